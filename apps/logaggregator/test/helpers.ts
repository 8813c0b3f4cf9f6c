import net from 'node:net';
import { InProcessDiscoverd } from '@flynn-edge/discoverd/testing';
import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import { createLogger, createMetrics } from '@flynn-edge/service-kit';
import { formatTimestamp, frameMessage, type LogMessage } from '@flynn-edge/syslog';
import { freePort, waitFor } from '@flynn-edge/testkit';
import { LogAggregator, type LogAggregatorOptions } from '../src/index.js';

export const silent = () => createLogger({ component: 'logaggregator', level: 'silent' });

export { freePort };

/** A real single-node discoverd in this process, as packages/router-store's tests use. */
export class TestDiscoverd extends InProcessDiscoverd {
  client(): DiscoverdClient {
    return this.track(new DiscoverdClient({ servers: [this.url], env: {} }));
  }
}

/** An in-process aggregator on 127.0.0.1 with ephemeral ports and its own metrics registry. */
export async function startAggregator(opts: Partial<LogAggregatorOptions> = {}): Promise<LogAggregator> {
  const a = new LogAggregator({
    syslogAddr: '127.0.0.1:0',
    apiAddr: '127.0.0.1:0',
    logger: silent(),
    metrics: createMetrics('logaggregator', { defaultMetrics: false }),
    ...opts,
  });
  await a.start();
  return a;
}

const BASE = 1_700_000_000_000_000; // µs

let defaultSeq = 0;
export function msg(
  o: Partial<Omit<LogMessage, 'msg'>> & { text?: string | Buffer; at?: number } = {},
): LogMessage {
  const seq = o.seq ?? ++defaultSeq;
  return {
    timestamp: o.timestamp ?? formatTimestamp(BASE + (o.at ?? seq)),
    hostname: o.hostname ?? 'host1',
    appName: o.appName ?? 'app1',
    procId: o.procId ?? 'web.host1-job1',
    msgId: o.msgId ?? 'ID1',
    seq,
    msg: typeof o.text === 'string' ? Buffer.from(o.text) : (o.text ?? Buffer.from(`line ${seq}`)),
  };
}

/** A syslog client: one TCP connection, RFC 6587 frames without the newline (as a host ships). */
export class SyslogSender {
  private constructor(readonly socket: net.Socket) {}

  static async connect(port: number): Promise<SyslogSender> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => {});
    return new SyslogSender(socket);
  }

  send(...messages: LogMessage[]): void {
    this.raw(Buffer.concat(messages.map((m) => frameMessage(m, false))));
  }

  raw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  get closed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  close(): void {
    this.socket.end();
  }
}

export interface LogLine {
  host_id?: string;
  job_id?: string;
  msg?: string;
  process_type?: string;
  source?: string;
  stream?: string;
  timestamp?: string;
}

export async function getLog(
  base: string,
  app: string,
  query = '',
): Promise<{ status: number; contentType: string; text: string; lines: LogLine[] }> {
  const r = await fetch(`${base}/log/${app}${query ? `?${query}` : ''}`);
  const text = await r.text();
  const lines =
    r.status === 200
      ? text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as LogLine)
      : [];
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', text, lines };
}

/** A follow=true reader: collects NDJSON lines as they stream in. */
export class Follow {
  readonly lines: LogLine[] = [];
  status = 0;
  ended = false;
  readonly ready: Promise<void>;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;

  constructor(url: string) {
    let onReady!: () => void;
    this.ready = new Promise((r) => {
      onReady = r;
    });
    this.done = this.run(url, onReady);
  }

  private async run(url: string, onReady: () => void): Promise<void> {
    try {
      const r = await fetch(url, { signal: this.controller.signal });
      this.status = r.status;
      onReady();
      const reader = r.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i = buf.indexOf('\n');
        while (i >= 0) {
          this.lines.push(JSON.parse(buf.slice(0, i)) as LogLine);
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
        }
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
      onReady();
    }
  }

  async waitLines(n: number, what = `${n} lines`): Promise<LogLine[]> {
    await waitFor(() => this.lines.length >= n, { what, timeoutMs: 5000, intervalMs: 5 });
    return this.lines;
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}
