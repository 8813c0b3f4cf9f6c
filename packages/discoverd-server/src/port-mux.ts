import net from 'node:net';

// One TCP port, two protocols (spec §1.1): the first byte of a connection picks the handler.
// 0xFF is Raft; the first letters of HTTP methods (CONNECT, DELETE, GET, HEAD, OPTIONS, POST/PUT/
// PATCH, TRACE) are HTTP; anything else is closed. A connection that sends nothing for 30 s is
// closed too, so idle sockets cannot pile up before they are even classified.

export const RAFT_FIRST_BYTE = 0xff;
const HTTP_FIRST_BYTES = new Set([...'CDGHOPT'].map((c) => c.charCodeAt(0)));

export interface PortMuxHandlers {
  /** `head` holds the bytes read so far, starting with 0xFF. */
  raft(socket: net.Socket, head: Buffer): void;
  /** The socket has its first bytes pushed back: hand it to an HTTP server as a new connection. */
  http(socket: net.Socket): void;
  /** Connections closed for an unknown first byte or for silence. */
  rejected?(reason: 'unknown-protocol' | 'first-byte-timeout'): void;
}

export interface PortMuxOptions {
  firstByteTimeoutMs?: number;
  keepAliveMs?: number;
}

export function createPortMux(handlers: PortMuxHandlers, opts: PortMuxOptions = {}): net.Server {
  const firstByteTimeoutMs = opts.firstByteTimeoutMs ?? 30_000;
  const keepAliveMs = opts.keepAliveMs ?? 180_000;
  return net.createServer((socket) => {
    socket.setKeepAlive(true, keepAliveMs);
    socket.on('error', () => {});
    const timer = setTimeout(() => {
      handlers.rejected?.('first-byte-timeout');
      socket.destroy();
    }, firstByteTimeoutMs);
    socket.once('data', (head: Buffer) => {
      clearTimeout(timer);
      if (head[0] === RAFT_FIRST_BYTE) {
        handlers.raft(socket, head);
      } else if (HTTP_FIRST_BYTES.has(head[0])) {
        // node:http's own listener disables Nagle on every connection; this one bypasses it.
        socket.setNoDelay(true);
        socket.pause();
        socket.unshift(head);
        handlers.http(socket);
        socket.resume();
      } else {
        handlers.rejected?.('unknown-protocol');
        socket.destroy();
      }
    });
    socket.once('close', () => clearTimeout(timer));
  });
}
