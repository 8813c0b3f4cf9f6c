import nacl from 'tweetnacl';

export const STICKY_COOKIE = '_backend';

/**
 * Flynn's sticky cookie: base64(nonce(24) ‖ secretbox(addr, nonce, key)). Encoding is cached
 * per address (bounded) so a request that changes backend does not pay for the crypto each time.
 */
export class StickyCodec {
  private readonly key: Uint8Array;
  private readonly cache = new Map<string, string>();

  constructor(key: Buffer) {
    if (key.length !== nacl.secretbox.keyLength) throw new RangeError('cookie key must be 32 bytes');
    this.key = new Uint8Array(key);
  }

  encode(addr: string): string {
    let v = this.cache.get(addr);
    if (v !== undefined) return v;
    const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
    const box = nacl.secretbox(Buffer.from(addr, 'utf8'), nonce, this.key);
    v = Buffer.concat([nonce, box]).toString('base64');
    if (this.cache.size >= 4096) this.cache.clear();
    this.cache.set(addr, v);
    return v;
  }

  /** The backend address in a cookie value, or undefined when it does not decrypt. */
  decode(value: string): string | undefined {
    let raw: Buffer;
    try {
      raw = Buffer.from(value, 'base64');
    } catch {
      return undefined;
    }
    const n = nacl.secretbox.nonceLength;
    if (raw.length < n + nacl.secretbox.overheadLength) return undefined;
    const opened = nacl.secretbox.open(raw.subarray(n), raw.subarray(0, n), this.key);
    return opened === null ? undefined : Buffer.from(opened).toString('utf8');
  }
}

/** The `_backend` value among Cookie header values, if any. */
export function findStickyCookie(headers: readonly [string, string][]): string | undefined {
  for (const [name, value] of headers) {
    if (name.length !== 6 || name.toLowerCase() !== 'cookie') continue;
    for (const part of value.split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === STICKY_COOKIE) {
        let v = part.slice(eq + 1).trim();
        if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        return v;
      }
    }
  }
  return undefined;
}
