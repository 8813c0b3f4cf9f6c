import net from 'node:net';
import { waitFor as poll } from '@flynn-edge/process-kit';
import { blankMessage } from '../../src/core/raft.js';
import { type Entry, EntryType, type Message, MessageType } from '../../src/core/types.js';

/** process-kit's waitFor with this file's positional arguments. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  await poll(cond, { timeoutMs, what, intervalMs: 2 });
}

/** Lets pending I/O callbacks run (one event-loop turn). */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

export function msg(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to'>): Message {
  return { ...blankMessage(fields.type, fields.from, fields.to, 0), ...fields };
}

export function bytes(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export function entries(count: number, size: number, firstIndex = 1, term = 1): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    out.push({ term, index: firstIndex + i, type: EntryType.Normal, data: bytes(size, firstIndex + i) });
  }
  return out;
}

/** An App message carrying `seq` in `commit`, so receivers can check ordering. */
export function app(from: string, to: string, seq: number, entryCount = 1, entrySize = 8): Message {
  return msg({
    type: MessageType.App,
    from,
    to,
    term: 1,
    index: seq,
    logTerm: 1,
    commit: seq,
    entries: entries(entryCount, entrySize, seq + 1),
  });
}

/** Listens on 127.0.0.1 with an ephemeral port. */
export async function rawServer(
  onConn: (s: net.Socket) => void,
): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer(onConn);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as net.AddressInfo).port };
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

export async function connectRaw(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  s.on('error', () => {});
  return s;
}
