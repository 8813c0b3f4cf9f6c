import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, isIPv6, Socket } from 'node:net';
import { splitHostPort } from './address.js';

// Names outside the zone go to the recursors, in order, over the transport the client used; the
// first answer is relayed with the client's query id (spec §1.10).

export type Transport = 'udp' | 'tcp';

export interface Recursor {
  /** IP literal. */
  host: string;
  port: number;
  family: 4 | 6;
  /** As configured and normalised, e.g. "10.0.0.1:53" or "[::1]:53". */
  text: string;
}

/**
 * Normalises one recursor: a bare host gets :53, a bare IPv6 address gets [..]:53 (spec §1.1).
 * Throws on an unusable entry.
 */
export function normalizeRecursor(entry: string): string {
  const r = entry.trim();
  if (r === '') throw new Error('discoverd: empty recursor address');
  let hp: { host: string; port: number } | undefined;
  if (r.startsWith('[')) {
    hp = r.endsWith(']') ? splitHostPort(`${r}:53`) : splitHostPort(r);
  } else {
    const colons = r.split(':').length - 1;
    if (colons === 0) hp = splitHostPort(`${r}:53`);
    else if (colons === 1) hp = splitHostPort(r);
    else hp = splitHostPort(`[${r}]:53`); // a bare IPv6 address
  }
  if (!hp || hp.port === 0) throw new Error(`discoverd: invalid recursor address ${entry}`);
  if (hp.host.includes(':') && !isIPv6(hp.host))
    throw new Error(`discoverd: invalid recursor address ${entry}`);
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** Parses the -recursors flag: a comma list; blank entries are dropped. */
export function parseRecursors(list: string): string[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(normalizeRecursor);
}

/** Normalises and resolves host names once, as Flynn does at start-up (ResolveTCPAddr). */
export async function resolveRecursors(entries: string[]): Promise<Recursor[]> {
  const out: Recursor[] = [];
  for (const entry of entries) {
    const text = normalizeRecursor(entry);
    const hp = splitHostPort(text)!;
    let host = hp.host;
    let family = isIP(host);
    if (family === 0) {
      try {
        const res = await lookup(host);
        host = res.address;
        family = res.family;
      } catch (err) {
        throw new Error(`discoverd: unable to resolve recursor address ${entry}: ${(err as Error).message}`);
      }
    }
    out.push({ host, port: hp.port, family: family as 4 | 6, text });
  }
  return out;
}

function isReplyTo(msg: Buffer, id: number): boolean {
  return msg.length >= 12 && msg.readUInt16BE(0) === id && (msg[2] & 0x80) !== 0;
}

/**
 * Sends `query` to one recursor and resolves with its reply, carrying the query's own id again.
 * A fresh socket and a random id are used for each exchange. Rejects on timeout, on a socket
 * error, on abort, or (TCP) on a reply that does not match.
 */
export function exchange(
  query: Buffer,
  r: Recursor,
  transport: Transport,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const clientId = query.readUInt16BE(0);
  const id = randomInt(0, 0x10000);
  const out = Buffer.from(query);
  out.writeUInt16BE(id, 0);
  const restoreId = (reply: Buffer) => {
    const copy = Buffer.from(reply);
    copy.writeUInt16BE(clientId, 0);
    return copy;
  };

  return new Promise<Buffer>((resolve, reject) => {
    let cleanup = () => {};
    let settled = false;
    const finish = (err: Error | null, reply?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup();
      if (err) reject(err);
      else resolve(restoreId(reply!));
    };
    const onAbort = () => finish(new Error('aborted'));
    const timer = setTimeout(() => finish(new Error(`recursor ${r.text} timed out`)), timeoutMs);
    if (signal?.aborted) return finish(new Error('aborted'));
    signal?.addEventListener('abort', onAbort);

    if (transport === 'udp') {
      const sock = dgram.createSocket(r.family === 6 ? 'udp6' : 'udp4');
      cleanup = () => {
        try {
          sock.close();
        } catch {
          // already closed
        }
      };
      sock.on('error', (err) => finish(err));
      sock.on('message', (msg) => {
        if (isReplyTo(msg, id)) finish(null, msg);
      });
      // A connected socket hears about ICMP port-unreachable, so a dead recursor fails fast.
      sock.connect(r.port, r.host, () => {
        sock.send(out, (err) => {
          if (err) finish(err);
        });
      });
      return;
    }

    const sock = new Socket();
    cleanup = () => sock.destroy();
    let pending: Buffer = Buffer.alloc(0);
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error(`recursor ${r.text} closed the connection`)));
    sock.on('data', (chunk) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (pending.length < 2) return;
      const len = pending.readUInt16BE(0);
      if (pending.length < 2 + len) return;
      const msg = pending.subarray(2, 2 + len);
      if (isReplyTo(msg, id)) finish(null, msg);
      else finish(new Error(`recursor ${r.text} sent a reply that does not match`));
    });
    sock.connect(r.port, r.host, () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(out.length, 0);
      sock.write(Buffer.concat([prefix, out]));
    });
  });
}

/** Tries each recursor in order; resolves with the first reply, or undefined when all failed. */
export async function forward(
  query: Buffer,
  recursors: Recursor[],
  transport: Transport,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  for (const r of recursors) {
    if (signal?.aborted) return undefined;
    try {
      return await exchange(query, r, transport, timeoutMs, signal);
    } catch {
      // next recursor
    }
  }
  return undefined;
}
