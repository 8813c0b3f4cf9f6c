import {
  createScanState,
  DEFAULT_LIMITS,
  type HeadLimits,
  parseRequestHead,
  requestFraming,
} from '../../src/index.js';
import type { Message, Outcome } from './outcome.js';

/**
 * Runs our parser over a byte stream the way the router's client connection does
 * (packages/router-proxy/src/client-connection.ts): parseRequestHead on the unread bytes with one scan state
 * per connection and the router's limits (DEFAULT_LIMITS), requestFraming(head) for the body, an
 * upgrade turns the rest into a tunnel, and a request that is not keep-alive is the last one read.
 * Also returns where each message ended, so the other parser can be fed up to exactly there.
 */
export function runOurs(buf: Buffer, limits: HeadLimits = DEFAULT_LIMITS): Outcome & { ends: number[] } {
  const messages: Message[] = [];
  const ends: number[] = [];
  const scan = createScanState();
  let off = 0;
  const out = (end: Outcome['end'], reason = '') => ({ messages, end, reason, ends });
  for (;;) {
    if (off === buf.length) return out('clean');
    const rest = buf.subarray(off);
    const r = parseRequestHead(rest, 0, limits, scan);
    if ('error' in r) return out('error', `${r.error.status} ${r.error.reason}`);
    if (!r.done) return onlyEmptyLines(rest) ? out('clean') : out('partial', 'head');
    const head = r.head;
    off += r.consumed;
    const msg: Message = {
      method: head.method,
      target: head.target,
      headers: head.headers.length,
      body: 0,
      keepAlive: head.keepAlive,
      upgrade: head.upgrade !== null,
    };
    if (msg.upgrade) {
      messages.push(msg);
      ends.push(off);
      return out('upgrade');
    }
    const framing = requestFraming(head);
    const n = framing.feed(buf, off, buf.length);
    if (n < 0) return out('error', `body: ${framing.error}`);
    off += n;
    if (!framing.done) return out('partial', 'body');
    msg.body = framing.bodyBytes;
    messages.push(msg);
    ends.push(off);
    if (!head.keepAlive) return out('closed');
  }
}

/** The parser waits on up to two empty lines before a request line; at EOF they are harmless. */
function onlyEmptyLines(b: Buffer): boolean {
  for (let i = 0; i < b.length; i += 2) {
    if (b[i] !== 13 || (i + 1 < b.length && b[i + 1] !== 10)) return false;
  }
  return true;
}
