// Syslog ingest (spec §4.4): TCP, RFC 6587 octet-counted frames of at most 11,000 bytes, each an
// RFC 5424 message with [flynn seq="N"]. A frame whose message is malformed is dropped and counted,
// and decoding goes on with the next frame; a broken length prefix cannot be resynchronised, so
// that connection is counted and closed (the sender reconnects and resumes from /cursors).

import net from 'node:net';
import type { Logger } from '@flynn-edge/service-kit';
import { DEFAULT_MAX_FRAME, FrameDecoder, type LogMessage } from '@flynn-edge/syslog';
import type { Aggregator } from './aggregator.js';

export interface IngestServerOptions {
  aggregator: Aggregator;
  logger?: Logger;
  /** Largest MSG-LEN accepted (default 11,000). */
  maxFrame?: number;
}

/** Copies a decoded message out of the socket chunk it points into, so the chunk can be freed. */
export function ownMessage(m: LogMessage): LogMessage {
  return {
    timestamp: m.timestamp,
    hostname: m.hostname,
    appName: m.appName,
    procId: m.procId,
    msgId: m.msgId,
    seq: m.seq,
    msg: Buffer.from(m.msg),
  };
}

export class IngestServer {
  readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly maxFrame: number;

  constructor(private readonly opts: IngestServerOptions) {
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.server = net.createServer((socket) => this.onConnection(socket));
    this.server.on('error', (err) => opts.logger?.error({ err }, 'syslog listener error'));
  }

  async listen(host: string | undefined, port: number): Promise<net.AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    return this.server.address() as net.AddressInfo;
  }

  get connections(): number {
    return this.sockets.size;
  }

  private onConnection(socket: net.Socket): void {
    const { aggregator: agg, logger } = this.opts;
    this.sockets.add(socket);
    const decoder = new FrameDecoder({ maxFrame: this.maxFrame });
    let malformedLogged = false;
    socket.on('data', (chunk: Buffer) => {
      for (const r of decoder.push(chunk)) {
        if ('error' in r) {
          if ('fatal' in r && r.fatal) {
            agg.drop('framing');
            logger?.warn(
              { remote: socket.remoteAddress, error: r.error },
              'syslog: bad frame, closing connection',
            );
            socket.destroy();
            return;
          }
          agg.drop('malformed');
          if (!malformedLogged) {
            malformedLogged = true; // once per connection: a bad sender must not flood the log
            logger?.warn(
              { remote: socket.remoteAddress, error: r.error },
              'syslog: dropping malformed message',
            );
          }
          continue;
        }
        try {
          agg.add(ownMessage(r));
        } catch (err) {
          // A bug must cost one message, never the process.
          agg.drop('malformed');
          logger?.error({ err }, 'syslog: failed to store a message');
        }
      }
    });
    socket.on('error', () => {
      // reset by the peer and the like: the connection just ends
    });
    socket.on('close', () => this.sockets.delete(socket));
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
