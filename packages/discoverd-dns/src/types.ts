import type { AddressInfo } from 'node:net';

/** What DNS needs from an instance (spec §1.3); extra fields of a full instance are ignored. */
export interface DnsInstance {
  id: string;
  /** "host:port": IPv4 or "[IPv6]:port". */
  addr: string;
  proto: string;
  index?: number;
}

/** Where the answers come from: the local Raft state on a peer, a peer over HTTP in proxy mode. */
export interface DnsDataSource {
  /** undefined when the service is unknown; [] when it has no instances (both are NXDOMAIN). */
  instances(service: string): DnsInstance[] | undefined | Promise<DnsInstance[] | undefined>;
  leader(service: string): DnsInstance | undefined | Promise<DnsInstance | undefined>;
}

export interface DnsServerOptions {
  /** host:port to listen on, UDP and TCP (port 0 picks one free port for both). */
  addr: string;
  data: DnsDataSource;
  /** "host[:port]" list; a bare host gets :53, a bare IPv6 address gets [..]:53 (spec §1.1). */
  recursors?: string[];
  /** Per recursor and attempt; default 2000 (miekg/dns's default). */
  recursorTimeoutMs?: number;
  /** For the shuffle; tests pass a seeded one. Default Math.random. */
  random?: () => number;
  /** Milliseconds since the epoch, like Date.now (the default). SOA serial = floor(now() / 1000). */
  now?: () => number;
  onError?: (err: Error) => void;
  /** The zone; default "discoverd.". Another zone is for tests (an upstream of our own). */
  zone?: string;
  /** A TCP connection with no traffic for this long is closed; default 10000. */
  tcpIdleTimeoutMs?: number;
}

export interface DnsAddresses {
  udp: AddressInfo;
  tcp: AddressInfo;
}

export interface DnsStats {
  /** Well-formed queries received, over both transports (forwarded ones included). */
  queries: number;
  /** Responses with rcode NXDOMAIN that we produced. */
  nxdomain: number;
  /** Responses with rcode SERVFAIL that we produced (data source errors, failed or no recursion). */
  servfail: number;
  /** Queries handed to the recursors. */
  forwarded: number;
  /** Packets that could not be decoded (dropped on UDP, connection closed on TCP). */
  malformed: number;
}
