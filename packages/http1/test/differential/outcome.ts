/** What a parser made of one byte stream, in a form both sides can produce. */
export interface Message {
  method: string;
  target: string;
  headers: number;
  /** Body length; for chunked bodies the decoded length. */
  body: number;
  keepAlive: boolean;
  upgrade: boolean;
}

/**
 * How the stream ended after the complete messages:
 * - `clean`: every byte belonged to a complete message (or was an ignored empty line);
 * - `partial`: it stopped inside a message (needs more bytes; at EOF a client error);
 * - `error`: rejected;
 * - `closed`: the last message was not keep-alive, so nothing after it is read;
 * - `upgrade`: the last message switched the connection to a tunnel.
 */
export type End = 'clean' | 'partial' | 'error' | 'closed' | 'upgrade';

export interface Outcome {
  messages: Message[];
  end: End;
  /** Our `status reason`, or llhttp's `HPE_* reason`, when end is error or partial. */
  reason: string;
}

export function sameMessage(a: Message, b: Message): boolean {
  return (
    a.method === b.method &&
    a.target === b.target &&
    a.headers === b.headers &&
    a.body === b.body &&
    a.keepAlive === b.keepAlive &&
    a.upgrade === b.upgrade
  );
}

/** Index of the first message that differs (or the shorter length), or -1 when all agree. */
export function firstDifference(a: Outcome, b: Outcome): number {
  const n = Math.min(a.messages.length, b.messages.length);
  for (let i = 0; i < n; i++) if (!sameMessage(a.messages[i], b.messages[i])) return i;
  if (a.messages.length !== b.messages.length || a.end !== b.end) return n;
  return -1;
}

export function describeOutcome(o: Outcome): string {
  const msgs = o.messages.map(
    (m) =>
      `${m.method} ${JSON.stringify(m.target)} h=${m.headers} body=${m.body}${m.keepAlive ? '' : ' close'}${m.upgrade ? ' upgrade' : ''}`,
  );
  return `[${msgs.join(' | ')}] ${o.end}${o.reason ? ` (${o.reason})` : ''}`;
}
