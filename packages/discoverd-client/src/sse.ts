// Server-Sent Events decoding (spec §1.7): `data:` lines joined by "\n" and dispatched on a
// blank line, `event:` and `id:` recorded, comment lines (":" keep-alives) ignored. Flynn's
// decoder turns `event: error` into an error "Server error: <message>".

export interface SseMessage {
  /** The `event:` field; undefined for a plain message. */
  event?: string;
  data: string;
  id?: string;
}

/** Incremental parser: feed text chunks, get complete messages back. */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event: string | undefined;
  private id: string | undefined;
  private hasData = false;

  /** Parses as much of `chunk` as forms complete lines; returns the messages completed. */
  push(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    let start = 0;
    for (;;) {
      let i = start;
      while (i < this.buf.length && this.buf[i] !== '\n' && this.buf[i] !== '\r') i++;
      if (i >= this.buf.length) break;
      // "\r" at the end of the buffer may be the first half of "\r\n": wait for more input.
      if (this.buf[i] === '\r' && i + 1 >= this.buf.length) break;
      const line = this.buf.slice(start, i);
      start = this.buf[i] === '\r' && this.buf[i + 1] === '\n' ? i + 2 : i + 1;
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** End of input: a pending line is processed, an undispatched message is dropped (per spec). */
  end(): SseMessage[] {
    const out: SseMessage[] = [];
    if (this.buf !== '') {
      const line = this.buf.endsWith('\r') ? this.buf.slice(0, -1) : this.buf;
      this.buf = '';
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    this.reset();
    return out;
  }

  private reset(): void {
    this.data = [];
    this.event = undefined;
    this.id = undefined;
    this.hasData = false;
  }

  private line(line: string): SseMessage | undefined {
    if (line === '') {
      if (!this.hasData) {
        this.reset();
        return undefined;
      }
      const msg: SseMessage = { data: this.data.join('\n') };
      if (this.event !== undefined) msg.event = this.event;
      if (this.id !== undefined) msg.id = this.id;
      this.reset();
      return msg;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        this.id = value;
        break;
      default:
        // `retry:` and unknown fields are ignored.
        break;
    }
    return undefined;
  }
}

/** The error Flynn's decoder produces for an `event: error` message. */
export class SseServerError extends Error {
  override readonly name = 'SseServerError';
  constructor(readonly serverMessage: string) {
    super(`Server error: ${serverMessage}`);
  }
}

/** Decodes one message as JSON; `event: error` throws SseServerError. */
export function decodeSseJson<T>(msg: SseMessage): T {
  if (msg.event === 'error') throw new SseServerError(msg.data);
  return JSON.parse(msg.data) as T;
}

/**
 * Reads a response body to its end, handing every complete message to `onMessage` (which may
 * throw to stop reading). Resolves when the stream ends; rejects on a read error.
 */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onMessage: (msg: SseMessage) => void,
  onActivity?: () => void,
): Promise<void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      onActivity?.();
      for (const msg of parser.push(decoder.decode(value, { stream: true }))) onMessage(msg);
    }
    for (const msg of parser.push(decoder.decode())) onMessage(msg);
    for (const msg of parser.end()) onMessage(msg);
  } finally {
    reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
