import { presentedKey, SecretKey } from '@flynn-edge/service-kit';
import { type ClientAddress, clientAddress } from './address.js';

// The AUTH_KEY rule (spec §3): a trusted client address needs no key; anyone else presents
// AUTH_KEY as the basic-auth password (any user; a Bearer token works too) or, when that is
// absent, as `?key=`. The comparison runs in constant time over digests (service-kit's
// SecretKey), so neither the key's content nor its length leaks. A failure is a bare 401.

export interface AuthInput {
  /** The TCP peer address (socket.remoteAddress). */
  peer: string | undefined;
  /** X-Forwarded-For as received (string or repeated header). */
  forwardedFor: string | readonly string[] | undefined;
  authorization: string | undefined;
  /** The request target, for `?key=`. */
  url: string;
}

export interface AuthDecision {
  ok: boolean;
  client: ClientAddress;
  /** How the request got in: a trusted address, the key, or no key configured. */
  via: 'address' | 'key' | 'open' | 'denied';
}

/** The first `key` query parameter, as Go's URL.Query().Get("key"). */
export function queryKey(url: string): string | undefined {
  const q = url.indexOf('?');
  if (q < 0) return undefined;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(url.slice(q + 1));
  } catch {
    return undefined;
  }
  const v = params.get('key');
  return v === null || v === '' ? undefined : v;
}

export class StatusAuth {
  private readonly key: SecretKey | undefined;

  /** An empty or missing key turns the check off, as in Flynn. */
  constructor(key: string | undefined) {
    this.key = key ? new SecretKey(key) : undefined;
  }

  get enabled(): boolean {
    return this.key !== undefined;
  }

  check(input: AuthInput): AuthDecision {
    const client = clientAddress(input.peer, input.forwardedFor);
    if (!this.key) return { ok: true, client, via: 'open' };
    if (client.trusted) return { ok: true, client, via: 'address' };
    const presented = presentedKey(input.authorization) ?? queryKey(input.url);
    const ok = this.key.matches(presented);
    return { ok, client, via: ok ? 'key' : 'denied' };
  }
}
