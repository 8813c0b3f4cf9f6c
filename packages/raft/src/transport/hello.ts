// The hello, the first frame of every Raft connection (after the 0xFF selector):
//
//   version 1   u8 1 | u16 fromLen | from | u16 toLen | to
//   version 2   u8 2 | u16 fromLen | from | u16 toLen | to | nonce[16] | mac[32]
//
// mac = HMAC-SHA256(cluster key, LABEL | every byte before the mac): the hello proves the sender
// holds the cluster key without sending it. Nodes with a key send version 2 and accept nothing
// else; nodes without one send version 1 and accept both. The random nonce makes every hello's
// mac different; a replayed hello is not detected (an eavesdropper sees the plaintext stream anyway).
// The hello names the recipient too, so a node reached through a stale address rejects the
// connection instead of feeding another node's messages to its Raft core.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../core/types.js';
import { FRAME_HEADER_BYTES } from './framing.js';

const PLAIN = 1;
const KEYED = 2;
const MAX_ID_BYTES = 1024;
const NONCE_BYTES = 16;
const MAC_BYTES = 32;
const LABEL = 'flynn-edge raft hello\n';

/** Largest possible hello payload: the frame limit while a connection has not said hello yet. */
export const MAX_HELLO_BYTES = 1 + 2 * (2 + MAX_ID_BYTES) + NONCE_BYTES + MAC_BYTES;

export interface Hello {
  from: NodeId;
  to: NodeId;
  /** The key the hello proves knowledge of is checked by verifyHello, not here. */
  keyed: boolean;
}

function mac(key: string, body: Buffer): Buffer {
  return createHmac('sha256', key).update(LABEL).update(body).digest();
}

/** A complete hello frame (length header included); with `key`, version 2. */
export function encodeHello(from: NodeId, to: NodeId, key?: string): Buffer {
  const fromLen = Buffer.byteLength(from);
  const toLen = Buffer.byteLength(to);
  if (fromLen > MAX_ID_BYTES || toLen > MAX_ID_BYTES) throw new Error('encodeHello: node id too long');
  const keyed = key !== undefined && key !== '';
  const bodyLen = 1 + 2 + fromLen + 2 + toLen + (keyed ? NONCE_BYTES : 0);
  const payload = bodyLen + (keyed ? MAC_BYTES : 0);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload);
  let p = buf.writeUInt32BE(payload, 0);
  p = buf.writeUInt8(keyed ? KEYED : PLAIN, p);
  p = buf.writeUInt16BE(fromLen, p);
  p += buf.write(from, p, 'utf8');
  p = buf.writeUInt16BE(toLen, p);
  p += buf.write(to, p, 'utf8');
  if (keyed) {
    randomBytes(NONCE_BYTES).copy(buf, p);
    mac(key, buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + bodyLen)).copy(
      buf,
      FRAME_HEADER_BYTES + bodyLen,
    );
  }
  return buf;
}

/** Parses a hello frame's payload; throws on anything malformed. */
export function decodeHello(payload: Buffer): Hello {
  const version = payload[0];
  if (payload.length < 5 || (version !== PLAIN && version !== KEYED)) throw new Error('malformed hello');
  const fromLen = payload.readUInt16BE(1);
  const toAt = 3 + fromLen;
  if (fromLen === 0 || fromLen > MAX_ID_BYTES || toAt + 2 > payload.length)
    throw new Error('malformed hello');
  const toLen = payload.readUInt16BE(toAt);
  const end = toAt + 2 + toLen + (version === KEYED ? NONCE_BYTES + MAC_BYTES : 0);
  if (toLen > MAX_ID_BYTES || end !== payload.length) throw new Error('malformed hello');
  return {
    from: payload.toString('utf8', 3, toAt),
    to: payload.toString('utf8', toAt + 2, toAt + 2 + toLen),
    keyed: version === KEYED,
  };
}

/** Whether a (decoded) hello payload carries a mac made with `key`; compared in constant time. */
export function verifyHello(payload: Buffer, key: string): boolean {
  if (payload[0] !== KEYED || payload.length < MAC_BYTES + 1) return false;
  const split = payload.length - MAC_BYTES;
  return timingSafeEqual(mac(key, payload.subarray(0, split)), payload.subarray(split));
}
