import * as acme from 'acme-client';
import { withAbortSignal } from './http.js';

// One certificate order for one domain with http-01: a new key and CSR, the challenge published
// through `publish` (the store, seen by every router), completed, the order finalized and the
// chain fetched. acme-client's own pre-check of the challenge is skipped: it resolves the domain
// with the system resolver, which need not be the one the ACME server uses. An abort (the order's
// deadline, leadership lost) fails the order at its next request or challenge.

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
  signal: AbortSignal = new AbortController().signal,
): Promise<IssuedCertificate> {
  signal.throwIfAborted();
  const [key, csr] = await acme.crypto.createCsr(
    { commonName: domain, altNames: [domain] },
    await acme.crypto.createPrivateEcdsaKey('P-256'),
  );
  const cert = await untilAborted(
    signal,
    withAbortSignal(signal, () =>
      client.auto({
        csr,
        challengePriority: ['http-01'],
        skipChallengeVerification: true,
        termsOfServiceAgreed: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01')
            throw new Error(`the ACME server offers no http-01 challenge for ${domain}`);
          signal.throwIfAborted();
          await hooks.publish(domain, challenge.token, keyAuthorization);
          signal.throwIfAborted();
        },
        challengeRemoveFn: async (_authz, challenge) => {
          if (challenge.type === 'http-01') await hooks.unpublish(challenge.token);
        },
      }),
    ),
  );
  const info = acme.crypto.readCertificateInfo(cert);
  return { cert, key: key.toString(), notBefore: info.notBefore, notAfter: info.notAfter };
}

/**
 * `p`, or the signal's reason as soon as it aborts: acme-client's status polling retries failed
 * requests with pauses, so the order itself would end only after them (it makes no request meanwhile).
 */
export function untilAborted<T>(signal: AbortSignal, p: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
