import type { Message, Outcome } from './outcome.js';

/**
 * Node's own request parser (llhttp behind node:http), driven in-process through the
 * `http_parser` binding exactly as node:http's server sets it up (_http_server.js
 * connectionListenerInternal, _http_common.js): REQUEST mode, the process-wide max header size
 * (16 KiB), no lenient flags (`insecureHTTPParser: false`), at most 2000 header pairs. On top of
 * llhttp it applies the server's own rules that reject a request: HTTP/1.1 without Host (400),
 * `PRI` (the socket is destroyed); and like a server with an 'upgrade' listener it hands upgrades
 * and CONNECT over as a tunnel (headers-complete returns 2). A real server is ~100x slower per
 * case; differential.test.ts checks on a sample that this model and a real server agree.
 */

interface ParserError extends Error {
  code: string;
  reason: string;
}

interface HTTPParserInstance {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number, conns?: unknown): void;
  execute(buf: Buffer): number | ParserError;
  finish(): undefined | ParserError;
  [callback: number]: (...args: never[]) => unknown;
}

interface HTTPParserClass {
  new (): HTTPParserInstance;
  REQUEST: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}

interface Binding {
  HTTPParser: HTTPParserClass;
  allMethods: string[];
  methods: string[];
}

function loadBinding(): Binding {
  // process.binding('http_parser') is allow-listed on Node 20 but prints DEP0111 once.
  const p = process as unknown as { binding(name: string): Binding; noDeprecation?: boolean };
  const quiet = p.noDeprecation;
  p.noDeprecation = true;
  try {
    return p.binding('http_parser');
  } finally {
    p.noDeprecation = quiet;
  }
}

const binding = loadBinding();
const { HTTPParser, allMethods } = binding;

/** The methods llhttp knows (it rejects any other token). */
export const LLHTTP_METHODS: ReadonlySet<string> = new Set(binding.methods);

const MAX_HEADER_PAIRS = 2000;

export class LlhttpOracle {
  private readonly parser = new HTTPParser();
  private messages: Message[] = [];
  private current: Message | null = null;
  private pending: string[] = [];
  private url = '';
  private rejected = '';

  constructor() {
    const p = this.parser;
    p[HTTPParser.kOnMessageBegin] = () => {};
    p[HTTPParser.kOnExecute] = () => {};
    p[HTTPParser.kOnHeaders] = ((headers: string[], url: string) => {
      this.pending.push(...headers);
      if (url) this.url += url;
    }) as never;
    p[HTTPParser.kOnHeadersComplete] = ((
      _major: number,
      minor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: number,
      _message: string,
      upgrade: boolean,
      keepAlive: boolean,
    ) => this.headersComplete(minor, headers, method, url, upgrade, keepAlive)) as never;
    p[HTTPParser.kOnBody] = ((b: Buffer) => {
      if (this.current !== null) this.current.body += b.length;
    }) as never;
    p[HTTPParser.kOnMessageComplete] = (() => {
      // Trailers and the URL re-sent with them (_http_common.js parserOnMessageComplete).
      this.pending = [];
      this.url = '';
      if (this.current !== null) this.messages.push(this.current);
      this.current = null;
    }) as never;
  }

  private headersComplete(
    minor: number,
    headers: string[] | undefined,
    method: number,
    url: string | undefined,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    const raw = headers ?? this.pending;
    const target = url ?? this.url;
    this.pending = [];
    this.url = '';
    const pairs = Math.min(raw.length / 2, MAX_HEADER_PAIRS);
    const name = allMethods[method];
    // _http_server.js parserOnIncoming: upgrades return before the Host check.
    if (!upgrade) {
      if (name === 'PRI') return this.reject('server: PRI');
      let host = false;
      for (let i = 0; i < pairs * 2; i += 2) if (raw[i].toLowerCase() === 'host') host = true;
      if (minor === 1 && !host) return this.reject('server: HTTP/1.1 without Host');
    }
    this.current = { method: name, target, headers: pairs, body: 0, keepAlive, upgrade };
    return upgrade ? 2 : 0;
  }

  private reject(reason: string): number {
    this.rejected = reason;
    return -1;
  }

  /**
   * Parses `buf`, executing it in pieces that end at `cuts` (ascending offsets; the rest follows),
   * then signals EOF. `completed[i]` is how many messages were complete after the piece ending at
   * cuts[i], so message boundaries can be compared exactly.
   */
  run(buf: Buffer, cuts: readonly number[] = []): Outcome & { completed: number[] } {
    const p = this.parser;
    p.initialize(HTTPParser.REQUEST, {}, 0, HTTPParser.kLenientNone);
    this.messages = [];
    this.current = null;
    this.pending = [];
    this.url = '';
    this.rejected = '';
    const completed: number[] = [];
    let start = 0;
    const pieces = [...cuts.filter((c) => c > 0 && c < buf.length), buf.length];
    for (const end of pieces) {
      if (end === start) break; // an empty stream: execute() returns nothing for no bytes
      const ret = p.execute(buf.subarray(start, end));
      if (typeof ret !== 'number') return { ...this.onError(ret), completed };
      const last = this.messages.at(-1);
      if (last?.upgrade && this.current === null) return { ...this.done('upgrade'), completed };
      completed.push(this.messages.length);
      start = end;
    }
    const fin = p.finish();
    if (fin !== undefined) return { ...this.done('partial', `${fin.code} ${fin.reason}`), completed };
    const last = this.messages.at(-1);
    return { ...this.done(last !== undefined && !last.keepAlive ? 'closed' : 'clean'), completed };
  }

  private onError(e: ParserError): Outcome {
    if (this.rejected !== '') return this.done('error', this.rejected);
    const last = this.messages.at(-1);
    // Bytes after a message that ends the connection: the server has stopped reading.
    if (e.code === 'HPE_CLOSED_CONNECTION' && last !== undefined && !last.keepAlive)
      return this.done('closed');
    return this.done('error', `${e.code} ${e.reason}`);
  }

  private done(end: Outcome['end'], reason = ''): Outcome {
    return { messages: this.messages, end, reason };
  }
}
