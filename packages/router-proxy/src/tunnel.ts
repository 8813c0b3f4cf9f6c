import type { ClientConn } from './client-connection.js';
import type { BackendConn, BackendOwner } from './pool.js';

/** An upgraded connection after the backend's 101: bytes are spliced both ways. */
export class Tunnel implements BackendOwner {
  /** Null once the backend side is gone. */
  backend: BackendConn | null;

  constructor(
    private readonly conn: ClientConn,
    backend: BackendConn,
  ) {
    this.backend = backend;
    backend.owner = this;
  }

  /** Client bytes go to the backend (dropped once it is gone). */
  fromClient(chunk: Buffer): void {
    const b = this.backend;
    if (b !== null && !b.socket.write(chunk)) this.conn.pause();
  }

  clientEnded(): void {
    this.backend?.socket.end();
  }

  clientClosed(): void {
    const b = this.backend;
    this.backend = null;
    b?.socket.end();
  }

  onBackendConnect(): void {}

  onBackendDialError(): void {}

  onBackendData(c: BackendConn, chunk: Buffer): void {
    if (c === this.backend && !this.conn.socket.write(chunk)) c.socket.pause();
  }

  onBackendDrain(c: BackendConn): void {
    if (c === this.backend) this.conn.resume();
  }

  onBackendEnd(c: BackendConn): void {
    if (c === this.backend) this.conn.socket.end();
  }

  onBackendClose(c: BackendConn, err: Error | undefined): void {
    if (c !== this.backend) return;
    this.backend = null;
    if (err !== undefined) this.conn.socket.destroy();
    else this.conn.socket.end();
  }
}
