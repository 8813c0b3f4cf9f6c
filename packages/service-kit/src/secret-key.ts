import { createHash, timingSafeEqual } from 'node:crypto';

// A shared secret a request presents (the cluster key, the status AUTH_KEY): read from the
// Authorization header, as `Bearer <key>` or as the password of basic auth (any user name), and
// compared in constant time over SHA-256 digests, so neither the content nor the length of the
// key leaks through timing.

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The key a request presents: a bearer token, or the password of basic auth. */
export function presentedKey(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(authorization);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const value = m[2]!;
  if (scheme === 'bearer') return value === '' ? undefined : value;
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const password = decoded.slice(colon + 1);
    return password === '' ? undefined : password;
  }
  return undefined;
}

export class SecretKey {
  private readonly expected: Buffer;

  constructor(key: string) {
    if (key === '') throw new Error('the key must not be empty');
    this.expected = digest(key);
  }

  /** Constant-time check of a presented key (both sides are 32-byte digests). */
  matches(candidate: string | undefined): boolean {
    const got = digest(candidate ?? '');
    // Always run the comparison, even without a candidate, so timing does not tell them apart.
    const equal = timingSafeEqual(got, this.expected);
    return candidate !== undefined && equal;
  }
}
