import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { createRng } from '@flynn-edge/raft/rng';
import dnsPacket from 'dns-packet';
import { type DnsDataSource, type DnsInstance, DnsServer, type DnsServerOptions } from '../src/index.js';

const run = promisify(execFile);

/** A deterministic source of randomness for the shuffle (the Raft simulator's seeded generator). */
export function seeded(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng.next();
}

export function id(n: number | string): string {
  return `${n}`.padStart(32, '0');
}

export class MemoryData implements DnsDataSource {
  readonly services = new Map<string, DnsInstance[]>();
  readonly leaders = new Map<string, DnsInstance>();

  set(service: string, instances: DnsInstance[], leader?: DnsInstance): this {
    this.services.set(service, instances);
    if (leader) this.leaders.set(service, leader);
    return this;
  }

  instances(service: string): DnsInstance[] | undefined {
    return this.services.get(service);
  }

  leader(service: string): DnsInstance | undefined {
    return this.leaders.get(service);
  }
}

export const FIXED_NOW = 1_700_000_000_123;

export function startServer(opts: Partial<DnsServerOptions> & { data: DnsDataSource }): Promise<DnsServer> {
  return DnsServer.start({ addr: '127.0.0.1:0', random: seeded(42), now: () => FIXED_NOW, ...opts });
}

export interface DigRecord {
  name: string;
  ttl: number;
  class: string;
  type: string;
  data: string;
}

export interface DigResult {
  /** NOERROR, NXDOMAIN, SERVFAIL, ...; undefined when dig got no answer. */
  status?: string;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  raw: string;
}

/** Parses `dig +noall +comments +answer +authority +additional` text. */
export function parseDig(text: string): DigResult {
  const res: DigResult = { flags: [], answer: [], authority: [], additional: [], raw: text };
  let section: DigRecord[] | undefined;
  for (const line of text.split('\n')) {
    const status = /->>HEADER<<-.*status: ([A-Z0-9_]+)/.exec(line);
    if (status) res.status = status[1];
    const flags = /^;; flags: ([^;]*);/.exec(line);
    if (flags) res.flags = flags[1].trim().split(/\s+/);
    if (line.startsWith(';; ANSWER SECTION:')) section = res.answer;
    else if (line.startsWith(';; AUTHORITY SECTION:')) section = res.authority;
    else if (line.startsWith(';; ADDITIONAL SECTION:')) section = res.additional;
    else if (line.trim() === '' || line.startsWith(';')) {
      if (line.trim() === '') section = undefined;
    } else if (section) {
      const [name, ttl, klass, type, ...data] = line.trim().split(/\s+/);
      section.push({ name, ttl: Number(ttl), class: klass, type, data: data.join(' ') });
    }
  }
  return res;
}

export interface DigOptions {
  tcp?: boolean;
  /** Seconds dig waits for an answer. */
  time?: number;
}

/** Queries the server with the real dig and parses its answer. */
export async function dig(
  port: number,
  name: string,
  type: string,
  opts: DigOptions = {},
): Promise<DigResult> {
  const args = [
    '@127.0.0.1',
    '-p',
    String(port),
    '-t',
    type,
    '-q',
    name,
    opts.tcp ? '+tcp' : '+notcp',
    '+tries=1',
    `+time=${opts.time ?? 3}`,
    '+nocookie',
    '+noall',
    '+comments',
    '+answer',
    '+authority',
    '+additional',
  ];
  try {
    const { stdout } = await run('dig', args, { timeout: 30_000 });
    return parseDig(stdout);
  } catch (err) {
    // dig exits 9 when no reply came; keep what it printed.
    const e = err as { stdout?: string };
    return parseDig(e.stdout ?? '');
  }
}

export function query(name: string, type: dnsPacket.RecordType, qid = 4242): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: qid,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
  });
}

/**
 * Sends each datagram in order from one socket and resolves with the first reply (the server
 * answers in order, so a reply to a later packet proves the earlier ones got none).
 */
export function udpExchange(port: number, packets: Buffer[], timeoutMs = 3000): Promise<Buffer> {
  const sock = dgram.createSocket('udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no UDP reply')), timeoutMs);
    sock.on('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    sock.on('error', reject);
    sock.connect(port, '127.0.0.1', () => {
      for (const p of packets) sock.send(p);
    });
  }).finally(() => sock.close());
}

/** A raw TCP client that collects length-prefixed replies. */
export class TcpClient {
  readonly sock = new Socket();
  readonly replies: Buffer[] = [];
  closed = false;
  private pending: Buffer = Buffer.alloc(0);

  static connect(port: number): Promise<TcpClient> {
    const c = new TcpClient();
    c.sock.on('close', () => {
      c.closed = true;
    });
    c.sock.on('error', () => {});
    c.sock.on('data', (chunk: Buffer) => {
      c.pending = Buffer.concat([c.pending, chunk]);
      while (c.pending.length >= 2 && c.pending.length >= 2 + c.pending.readUInt16BE(0)) {
        const len = c.pending.readUInt16BE(0);
        c.replies.push(c.pending.subarray(2, 2 + len));
        c.pending = c.pending.subarray(2 + len);
      }
    });
    return new Promise((resolve, reject) => {
      c.sock.once('error', reject);
      c.sock.connect(port, '127.0.0.1', () => resolve(c));
    });
  }

  send(...msgs: Buffer[]): void {
    const frames = msgs.map((m) => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(m.length, 0);
      return Buffer.concat([prefix, m]);
    });
    this.sock.write(Buffer.concat(frames));
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface DecodedRecord {
  name: string;
  type: string;
  ttl?: number;
  // biome-ignore lint/suspicious/noExplicitAny: record data differs by type
  data?: any;
}

/** dns-packet's decode, typed with the fields its typings leave out (rcode) and loose records. */
export function decode(buf: Buffer): {
  id: number;
  rcode: string;
  answers: DecodedRecord[];
  authorities: DecodedRecord[];
  additionals: DecodedRecord[];
} {
  return dnsPacket.decode(buf) as never;
}
