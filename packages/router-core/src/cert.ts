import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import type { RouteError } from './types.js';

export interface CheckedCertificate {
  /** Trimmed PEM chain. */
  cert: string;
  /** Trimmed PEM key. */
  key: string;
  /** The DNS names the leaf covers (SAN DNS entries, else the subject CN), lower-cased. */
  names: string[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function invalid(reason: string): RouteError {
  return { code: 'validation_error', message: `Certificate invalid: ${reason}`, field: 'certificate' };
}

function pemBlocks(pem: string): { type: string; text: string }[] {
  return [...pem.matchAll(PEM_BLOCK)].map((m) => ({ type: m[1], text: m[0] }));
}

/** Lower-cased DNS names of a certificate: its SAN DNS entries, or the subject CN without SANs. */
export function certificateNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san) {
    const names: string[] = [];
    for (const part of san.split(/,\s*/)) {
      if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase());
    }
    return names;
  }
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(x509.subject);
  return cn ? [cn[1].toLowerCase()] : [];
}

/**
 * Does a certificate name cover a route domain? Exact match; a certificate wildcard `*.x`
 * covers one label `a.x` and the route wildcard `*.x` itself. The catch-all `*` is covered by
 * nothing.
 */
export function nameCovers(certName: string, domain: string): boolean {
  if (certName === domain) return domain !== '*';
  if (!certName.startsWith('*.')) return false;
  const dot = domain.indexOf('.');
  if (dot <= 0) return false;
  const first = domain.slice(0, dot);
  return first !== '*' && domain.slice(dot + 1) === certName.slice(2);
}

/**
 * Flynn's certificate check (trim, then a valid X.509 key pair), plus a check that the leaf
 * covers `domain` (beyond Flynn, which only found out at handshake time). Errors are 400
 * `validation_error` "Certificate invalid: …" with Go's crypto/tls texts where Go has one.
 */
export function checkCertificate(
  certInput: string,
  keyInput: string,
  domain?: string,
): CheckedCertificate | RouteError {
  const cert = certInput.trim();
  const key = keyInput.trim();
  const certBlocks = pemBlocks(cert).filter((b) => b.type === 'CERTIFICATE');
  if (certBlocks.length === 0) return invalid('tls: failed to find any PEM data in certificate input');
  const keyBlocks = pemBlocks(key).filter((b) => b.type.endsWith('PRIVATE KEY'));
  if (keyBlocks.length === 0) return invalid('tls: failed to find any PEM data in key input');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certBlocks[0].text);
    for (const b of certBlocks.slice(1)) new X509Certificate(b.text);
  } catch (e) {
    return invalid(`x509: malformed certificate (${(e as Error).message})`);
  }
  let priv: KeyObject;
  try {
    priv = createPrivateKey(keyBlocks[0].text);
  } catch (e) {
    return invalid(`tls: failed to parse private key (${(e as Error).message})`);
  }
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(priv);
  } catch {
    matches = false;
  }
  if (!matches) return invalid('tls: private key does not match public key');
  const names = certificateNames(leaf);
  if (domain !== undefined && !names.some((n) => nameCovers(n, domain))) {
    const valid = names.length > 0 ? names.join(', ') : 'no names';
    return invalid(`x509: certificate is valid for ${valid}, not ${domain}`);
  }
  return { cert, key, names };
}

export function isRouteError(x: unknown): x is RouteError {
  return typeof x === 'object' && x !== null && 'code' in x && 'message' in x;
}
