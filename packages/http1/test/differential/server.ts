import http from 'node:http';
import net from 'node:net';
import type { Message } from './outcome.js';

/** What a real node:http server made of one connection's bytes. */
export interface ServerResult {
  messages: Message[];
  /** A clientError fired, or the server answered 400 itself (HTTP/1.1 without Host). */
  rejected: boolean;
  /** EOF inside a request (clientError HPE_INVALID_EOF_STATE or an aborted body). */
  partial: boolean;
}

/**
 * A real node:http server on 127.0.0.1 (default limits, insecureHTTPParser false) with
 * 'upgrade', 'connect' and 'checkExpectation' listeners, like the model in llhttp.ts. Each case
 * is one raw TCP connection that writes the bytes and half-closes.
 */
export class RealServer {
  private readonly server: http.Server;
  private current: ServerResult = { messages: [], rejected: false, partial: false };
  /** Requests in arrival order; a request's body completes after later upgrades are emitted. */
  private arrived: Array<{ msg: Message; complete: boolean }> = [];
  private serverSocketClosed: (() => void) | null = null;

  constructor() {
    const self = this;
    // Node answers an HTTP/1.1 request without Host itself (writeHead(400)); no listener sees it.
    class Response extends http.ServerResponse {
      // biome-ignore lint/suspicious/noExplicitAny: writeHead's overloads
      override writeHead(status: number, ...rest: any[]): this {
        if (status === 400) self.current.rejected = true;
        return super.writeHead(status, ...rest);
      }
    }
    const s = http.createServer({ insecureHTTPParser: false, ServerResponse: Response });
    this.server = s;
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const entry = { msg: this.message(req, false), complete: false };
      this.arrived.push(entry);
      req.on('data', (b: Buffer) => {
        entry.msg.body += b.length;
      });
      req.on('end', () => {
        entry.complete = req.complete;
        res.end();
      });
    };
    s.on('request', onRequest);
    s.on('checkExpectation', onRequest);
    const onTunnel = (req: http.IncomingMessage, socket: net.Socket) => {
      this.arrived.push({ msg: this.message(req, true), complete: true });
      socket.destroy();
    };
    s.on('upgrade', onTunnel);
    s.on('connect', onTunnel);
    s.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      if (err.code === 'HPE_INVALID_EOF_STATE' || err.code === 'ECONNRESET') this.current.partial = true;
      // Bytes after a request that closes the connection: the model calls that 'closed'.
      else if (err.code !== 'HPE_CLOSED_CONNECTION') this.current.rejected = true;
      socket.destroy();
    });
    s.on('connection', (socket: net.Socket) => {
      socket.on('close', () => this.serverSocketClosed?.());
    });
  }

  private message(req: http.IncomingMessage, upgrade: boolean): Message {
    return {
      method: req.method ?? '',
      target: req.url ?? '',
      headers: req.rawHeaders.length / 2,
      body: 0,
      keepAlive: true, // not observable from outside; not compared
      upgrade,
    };
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Sends `bytes` on a fresh connection, half-closes, and waits until both ends have closed. */
  async run(bytes: Buffer, timeoutMs = 5000): Promise<ServerResult> {
    this.current = { messages: [], rejected: false, partial: false };
    this.arrived = [];
    const { port } = this.server.address() as net.AddressInfo;
    const serverClosed = new Promise<void>((resolve) => {
      this.serverSocketClosed = resolve;
    });
    const clientClosed = new Promise<void>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => c.end(bytes));
      c.resume();
      c.on('error', () => {});
      c.on('close', () => resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([Promise.all([clientClosed, serverClosed]), deadline]);
    } finally {
      clearTimeout(timer);
      this.serverSocketClosed = null;
    }
    this.current.messages = this.arrived.filter((a) => a.complete).map((a) => a.msg);
    return this.current;
  }
}
