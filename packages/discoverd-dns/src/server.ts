import dnsPacket from 'dns-packet';
import { splitHostPort } from './address.js';
import { lookup } from './answer.js';
import { DEFAULT_ZONE, normalizeZone, parseQuestionName } from './names.js';
import { forward, type Recursor, resolveRecursors, type Transport } from './recursor.js';
import { TcpTransport } from './tcp.js';
import type { DnsAddresses, DnsDataSource, DnsServerOptions, DnsStats } from './types.js';
import { UdpTransport } from './udp.js';
import { encodeBare, encodeResponse, RCODE, type ResponseMessage } from './wire.js';

// discoverd's DNS server (spec §1.10): UDP and TCP on one address, answers for the zone from a
// DnsDataSource, everything else relayed to the recursors.

const UDP_MIN_PAYLOAD = 512;
/** Attempts to find a port that is free for both UDP and TCP when the caller asks for port 0. */
const EPHEMERAL_ATTEMPTS = 20;

export class DnsServer {
  private data: DnsDataSource;
  private readonly zone: string;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly onError: (err: Error) => void;
  private readonly recursorTimeoutMs: number;
  private readonly abort = new AbortController();
  private readonly counters: DnsStats = { queries: 0, nxdomain: 0, servfail: 0, forwarded: 0, malformed: 0 };
  private udp!: UdpTransport;
  private tcp!: TcpTransport;
  private closing: Promise<void> | undefined;

  private constructor(
    opts: DnsServerOptions,
    private readonly recursors: Recursor[],
  ) {
    this.data = opts.data;
    this.zone = normalizeZone(opts.zone ?? DEFAULT_ZONE);
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
    this.recursorTimeoutMs = opts.recursorTimeoutMs ?? 2000;
  }

  /** Resolves the recursors, binds UDP and TCP on opts.addr, and starts answering. */
  static async start(opts: DnsServerOptions): Promise<DnsServer> {
    const hp = splitHostPort(opts.addr);
    if (!hp) throw new Error(`discoverd: invalid DNS address ${opts.addr}`);
    const srv = new DnsServer(opts, await resolveRecursors(opts.recursors ?? []));
    await srv.listen(hp.host, hp.port, opts.tcpIdleTimeoutMs ?? 10_000);
    const self = srv.udp.address();
    if (srv.recursors.some((r) => r.host === self.address && r.port === self.port)) {
      await srv.close();
      throw new Error(`discoverd: recursor ${opts.addr} is this DNS server`);
    }
    return srv;
  }

  private async listen(host: string, port: number, idleTimeoutMs: number): Promise<void> {
    const handler = (msg: Buffer, transport: Transport) => this.handle(msg, transport);
    const tcpOpts = { idleTimeoutMs, onError: this.onError };
    for (let attempt = 1; ; attempt++) {
      const udp = await UdpTransport.listen(host, port, handler, this.onError);
      try {
        this.tcp = await TcpTransport.listen(host, udp.address().port, handler, tcpOpts);
        this.udp = udp;
        return;
      } catch (err) {
        await udp.close();
        const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
        if (port !== 0 || !inUse || attempt >= EPHEMERAL_ATTEMPTS) throw err;
      }
    }
  }

  address(): DnsAddresses {
    return { udp: this.udp.address(), tcp: this.tcp.address() };
  }

  /** Swaps where answers come from (proxy mode <-> local store); takes effect for the next query. */
  setData(data: DnsDataSource): void {
    this.data = data;
  }

  stats(): DnsStats {
    return { ...this.counters };
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.abort.abort();
      this.closing = Promise.all([this.udp?.close(), this.tcp?.close()]).then(() => {});
    }
    return this.closing;
  }

  /** Answers one message; null means malformed (dropped on UDP, connection closed on TCP). */
  private async handle(msg: Buffer, transport: Transport): Promise<Buffer | null> {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      this.counters.malformed++;
      return null;
    }
    if (query.flag_qr) {
      // A response sent to a server: never answer it (no reflection loops).
      this.counters.malformed++;
      return null;
    }
    this.counters.queries++;

    const question = query.questions?.[0];
    const hasRecursors = this.recursors.length > 0;
    const base: Omit<ResponseMessage, 'rcode' | 'answers' | 'authorities' | 'additionals'> = {
      id: query.id ?? 0,
      opcode: (msg[2] >> 3) & 0xf,
      aa: false,
      tc: false,
      rd: query.flag_rd,
      ra: hasRecursors,
      cd: query.flag_cd,
      question,
    };
    const servfail = (extra: Partial<ResponseMessage> = {}) => {
      this.counters.servfail++;
      return encodeBare({ ...base, rcode: RCODE.SERVFAIL, ...extra });
    };

    if (base.opcode !== 0) return encodeBare({ ...base, rcode: RCODE.NOTIMP });
    if (!question) return encodeBare({ ...base, rcode: RCODE.FORMERR });

    const parsed = parseQuestionName(question.name, this.zone);
    if (parsed.kind === 'outside') {
      if (!hasRecursors) return servfail();
      this.counters.forwarded++;
      const reply = await forward(msg, this.recursors, transport, this.recursorTimeoutMs, this.abort.signal);
      return reply ?? servfail();
    }

    try {
      const result = await lookup(question.name, question.type, parsed, {
        data: this.data,
        zone: this.zone,
        tcp: transport === 'tcp',
        random: this.random,
        serial: Math.floor(this.now() / 1000),
      });
      if (result.rcode === RCODE.NXDOMAIN) this.counters.nxdomain++;
      const reply = encodeResponse({ ...base, aa: true, ...result });
      if (transport === 'udp' && reply.length > udpLimit(query)) {
        // Only possible with very long names: tell the client to retry over TCP.
        return encodeBare({ ...base, aa: true, tc: true, rcode: result.rcode });
      }
      return reply;
    } catch (err) {
      this.onError(err instanceof Error ? err : new Error(String(err)));
      return servfail({ aa: true });
    }
  }
}

/** The largest UDP reply the client accepts: 512, or its EDNS buffer size when larger. */
function udpLimit(query: dnsPacket.DecodedPacket): number {
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  const size = opt && 'udpPayloadSize' in opt ? (opt.udpPayloadSize ?? 0) : 0;
  return Math.max(UDP_MIN_PAYLOAD, Math.min(size, 65_507));
}
