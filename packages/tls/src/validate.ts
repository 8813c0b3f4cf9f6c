import { createPrivateKey, X509Certificate } from 'node:crypto';

export interface CertificateInfo {
  /** subjectAltName DNS names, then the subject CN if not already listed; lower-cased. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint of the leaf, colon-separated upper-case hex (as X509Certificate). */
  fingerprint: string;
  /** Number of certificates in the PEM (leaf first). */
  chainLength: number;
}

export type ValidationResult = { ok: true; info: CertificateInfo } | { ok: false; error: string };

export interface ValidateOptions {
  /** Clock for the validity check (default: now). */
  now?: Date;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Split a PEM bundle into its certificate blocks, in order. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

/** DNS names from a certificate: SAN `DNS:` entries, then the CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  const add = (n: string) => {
    const v = n.trim().toLowerCase();
    if (v !== '' && !names.includes(v)) names.push(v);
  };
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) add(part.slice(4).replace(/^"|"$/g, ''));
  }
  for (const line of cert.subject.split('\n')) {
    if (line.startsWith('CN=')) add(line.slice(3));
  }
  return names;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Check a certificate (or chain, leaf first) and private key in PEM. Never throws.
 * Checks: both parse; the key is unencrypted and matches the leaf; the leaf is within its
 * validity period; each chain certificate is issued and signed by the next one.
 */
export function validateKeyPair(
  certPem: string,
  keyPem: string,
  opts: ValidateOptions = {},
): ValidationResult {
  if (typeof certPem !== 'string' || certPem.trim() === '')
    return { ok: false, error: 'certificate is empty' };
  if (typeof keyPem !== 'string' || keyPem.trim() === '') return { ok: false, error: 'private key is empty' };
  const blocks = splitPemCertificates(certPem);
  if (blocks.length === 0) {
    return { ok: false, error: 'certificate is not PEM: no "-----BEGIN CERTIFICATE-----" block found' };
  }
  const chain: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      chain.push(new X509Certificate(blocks[i]));
    } catch (e) {
      return {
        ok: false,
        error: `certificate ${i + 1} of ${blocks.length} could not be parsed: ${message(e)}`,
      };
    }
  }
  const leaf = chain[0];

  if (/ENCRYPTED/.test(keyPem))
    return { ok: false, error: 'private key is encrypted; provide an unencrypted key' };
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    return { ok: false, error: `private key could not be parsed: ${message(e)}` };
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch (e) {
    return { ok: false, error: `private key could not be checked against the certificate: ${message(e)}` };
  }
  if (!matches) return { ok: false, error: 'private key does not match the certificate' };

  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  const now = opts.now ?? new Date();
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    return { ok: false, error: 'certificate validity dates could not be read' };
  }
  if (now.getTime() > notAfter.getTime()) {
    return { ok: false, error: `certificate expired on ${notAfter.toISOString()}` };
  }
  if (now.getTime() < notBefore.getTime()) {
    return { ok: false, error: `certificate is not valid until ${notBefore.toISOString()}` };
  }

  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i];
    const parent = chain[i + 1];
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) {
      return {
        ok: false,
        error: `certificate chain is out of order or broken: certificate ${i + 1} is not issued by certificate ${i + 2} (the chain must be leaf first)`,
      };
    }
  }

  const names = certificateNames(leaf);
  if (names.length === 0)
    return { ok: false, error: 'certificate names no DNS host (no subjectAltName DNS entry or CN)' };
  return {
    ok: true,
    info: { names, notBefore, notAfter, fingerprint: leaf.fingerprint256, chainLength: chain.length },
  };
}
