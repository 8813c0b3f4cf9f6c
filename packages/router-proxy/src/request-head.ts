import { type HeadEdits, type Header, type RequestHead, rewriteRequestHead } from '@flynn-edge/http1';
import { fastRewrite, type ProxyFields } from './fast-rewrite.js';
import type { ConnectionInfo } from './types.js';

/** A socket's peer address as written in X-Forwarded-For (IPv4-mapped IPv6 unwrapped). */
export function clientIp(addr: string | undefined): string {
  if (addr === undefined) return '';
  return addr.startsWith('::ffff:') && addr.indexOf('.') > 0 ? addr.slice(7) : addr;
}

/**
 * The fields the proxy adds to every request head of one client connection (X-Forwarded-*,
 * X-Request-Start, X-Request-Id, Flynn-Router-Host): built once per connection, the two
 * per-request values filled in by each request.
 */
export class ForwardFields {
  private readonly set: Header[];
  private readonly edits: HeadEdits;
  private readonly fast: ProxyFields;

  constructor(
    clientAddr: string,
    private readonly info: ConnectionInfo,
    hostName: string,
  ) {
    this.set = [
      ['X-Request-Start', ''],
      ['X-Request-Id', ''],
      ['Flynn-Router-Host', hostName],
    ];
    this.edits = { append: this.appendEdits(clientAddr), set: this.set };
    this.fast = {
      forwardedFor: clientAddr,
      forwardedProto: info.scheme,
      forwardedPort: String(info.listenerPort),
      requestStart: '',
      requestId: '',
      routerHost: hostName,
    };
  }

  /** The client address from a PROXY protocol line. */
  setClient(addr: string): void {
    this.edits.append = this.appendEdits(addr);
    this.fast.forwardedFor = addr;
  }

  private appendEdits(clientAddr: string): Header[] {
    return [
      ['X-Forwarded-For', clientAddr],
      ['X-Forwarded-Proto', this.info.scheme],
      ['X-Forwarded-Port', String(this.info.listenerPort)],
    ];
  }

  /**
   * The head sent to the backend: the raw head patched in place when possible, else rewritten.
   * `close` asks the backend to close, `host` replaces Host (absolute-form). Throws on a head
   * that cannot be rewritten.
   */
  rewrite(
    head: RequestHead,
    raw: Buffer,
    rawEnd: number,
    start: number,
    requestId: string,
    close: boolean,
    upgrade: boolean,
    host: string | null,
  ): Buffer {
    this.set[0][1] = this.fast.requestStart = String(start);
    this.set[1][1] = this.fast.requestId = requestId;
    if (!close && !upgrade && host === null) {
      return fastRewrite(raw, 0, rawEnd, head, this.fast) ?? rewriteRequestHead(head, this.edits);
    }
    const set = close || host !== null ? [...this.set] : this.set;
    if (close) set.push(['Connection', 'close']);
    if (host !== null) set.push(['Host', host]);
    return rewriteRequestHead(head, { append: this.edits.append, set, upgrade });
  }
}
