import type net from 'node:net';
import { FRAME_HEADER_BYTES, FrameDecoder } from '@flynn-edge/raft';

// The client protocol of the Raft KV node used by the demo, the process-level tests and the
// benchmark: a connection opens with the byte 'K' (so it shares a port with Raft's 0xFF), then
// carries u32-length-prefixed JSON frames. Requests carry an id and may be pipelined.

export const KV_PROTOCOL_BYTE = 0x4b;
const MAX_FRAME = 16 * 1024 * 1024;

export type KvRequest =
  | { id: number; op: 'get'; key: string }
  | { id: number; op: 'put'; key: string; value: string }
  | { id: number; op: 'cas'; key: string; expected: string | null; value: string }
  | { id: number; op: 'del'; key: string }
  | { id: number; op: 'status'; resetLoopDelay?: boolean }
  | { id: number; op: 'transfer'; to: string }
  | { id: number; op: 'member'; change: 'addLearner' | 'addVoter' | 'removeNode'; node: string };

/** A request before the client numbers it. */
export type KvCall = KvRequest extends infer R ? (R extends KvRequest ? Omit<R, 'id'> : never) : never;

export type KvResponse =
  | {
      id: number;
      ok: true;
      value?: string | null;
      prev?: string | null;
      succeeded?: boolean;
      status?: unknown;
    }
  | { id: number; ok: false; error: string; message: string; leader?: string | null };

export function encodeJsonFrame(obj: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(obj));
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** Reads JSON frames from a socket; malformed input closes the connection. */
export function onJsonFrames(socket: net.Socket, onFrame: (obj: unknown) => void, head?: Buffer): void {
  const decoder = new FrameDecoder(MAX_FRAME);
  const feed = (chunk: Buffer) => {
    try {
      decoder.push(chunk, (payload) => onFrame(JSON.parse(payload.toString('utf8'))));
    } catch {
      socket.destroy();
    }
  };
  if (head && head.length > 0) feed(head);
  socket.on('data', feed);
}

export function splitHostPort(addr: string): [string, string] {
  const i = addr.lastIndexOf(':');
  if (i <= 0) throw new Error(`bad address ${addr}: want host:port`);
  return [addr.slice(0, i), addr.slice(i + 1)];
}
