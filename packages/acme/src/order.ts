import * as acme from 'acme-client';

// One certificate order for one domain with http-01: a new key and CSR, the challenge published
// through `publish` (the store, seen by every router), completed, the order finalized and the
// chain fetched. acme-client's own pre-check of the challenge is skipped: it resolves the domain
// with the system resolver, which need not be the one the ACME server uses.

export interface ChallengeHooks {
  /** Make `keyAuthorization` answer http://<domain>/.well-known/acme-challenge/<token>. */
  publish(domain: string, token: string, keyAuthorization: string): Promise<void>;
  unpublish(token: string): Promise<void>;
}

export interface IssuedCertificate {
  /** The chain, leaf first (PEM). */
  cert: string;
  key: string;
  notBefore: Date;
  notAfter: Date;
}

export async function orderCertificate(
  client: acme.Client,
  domain: string,
  hooks: ChallengeHooks,
): Promise<IssuedCertificate> {
  const [key, csr] = await acme.crypto.createCsr(
    { commonName: domain, altNames: [domain] },
    await acme.crypto.createPrivateEcdsaKey('P-256'),
  );
  const cert = await client.auto({
    csr,
    challengePriority: ['http-01'],
    skipChallengeVerification: true,
    termsOfServiceAgreed: true,
    challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
      if (challenge.type !== 'http-01')
        throw new Error(`the ACME server offers no http-01 challenge for ${domain}`);
      await hooks.publish(domain, challenge.token, keyAuthorization);
    },
    challengeRemoveFn: async (_authz, challenge) => {
      if (challenge.type === 'http-01') await hooks.unpublish(challenge.token);
    },
  });
  const info = acme.crypto.readCertificateInfo(cert);
  return { cert, key: key.toString(), notBefore: info.notBefore, notAfter: info.notAfter };
}
