import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors.js';

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

export interface SecretKeyHookOptions {
  key: string;
  /** For the `WWW-Authenticate: Bearer realm="…"` challenge. */
  realm: string;
  /** 401 messages for a request without a key and with a wrong one. */
  missing: string;
  wrong: string;
}

/**
 * A fastify onRequest hook for an encapsulated plugin whose every route needs the key: anything
 * else gets 401 `unauthorized` in Flynn's envelope, with a Bearer challenge.
 */
export function secretKeyHook(opts: SecretKeyHookOptions) {
  const key = new SecretKey(opts.key);
  return async (
    req: { headers: { authorization?: string } },
    reply: { header(name: string, value: string): unknown },
  ): Promise<void> => {
    const presented = presentedKey(req.headers.authorization);
    if (key.matches(presented)) return;
    reply.header('www-authenticate', `Bearer realm="${opts.realm}"`);
    throw new HttpError('unauthorized', presented === undefined ? opts.missing : opts.wrong);
  };
}
