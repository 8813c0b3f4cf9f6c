// A byte splice between two connected sockets, with half-close: when one side sends FIN, pipe()
// ends the other side's writable half (our FIN to it) and we keep reading it until it ends too.
// pipe() gives backpressure. An error on either side destroys both, so nothing is left half-dead.

import type { Socket } from 'node:net';
import type { RingReader } from './ring-reader.js';

/** `reader`: the backend's RingReader when it was dialled with one (then no 'data' events). */
export function splice(client: Socket, backend: Socket, reader?: RingReader): void {
  const fail = (): void => {
    client.destroy();
    backend.destroy();
  };
  client.on('error', fail);
  backend.on('error', fail);
  // A close with an error that was not surfaced as 'error' (e.g. a destroy) must still take the
  // peer down; a clean close only happens once both halves are done, so it needs nothing.
  client.on('close', (hadError) => {
    if (hadError || !client.readableEnded) backend.destroy();
  });
  backend.on('close', (hadError) => {
    if (hadError || !backend.readableEnded) client.destroy();
  });
  client.pipe(backend);
  if (!reader) {
    backend.pipe(client);
    return;
  }
  // Backpressure: a chunk's buffer returns to the ring when the client has taken it; with every
  // buffer out, the reader pauses the backend.
  reader.attach((chunk, done) => {
    if (client.destroyed) return done();
    client.write(chunk, () => done());
  });
  backend.on('end', () => client.end());
}
