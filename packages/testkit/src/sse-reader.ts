// A raw Server-Sent Events reader for tests against real servers: every message with its event
// name and id, comments (keep-alives) skipped.

export interface SseMessage {
  event?: string;
  id?: string;
  data: string;
}

export class SseReader {
  readonly messages: SseMessage[] = [];
  status = 0;
  contentType = '';
  ended = false;
  private readonly controller = new AbortController();
  private readonly done: Promise<void>;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.run(url, headers);
  }

  private async run(url: string, headers: Record<string, string>): Promise<void> {
    try {
      const r = await fetch(url, {
        headers: { accept: 'text/event-stream', ...headers },
        signal: this.controller.signal,
      });
      this.status = r.status;
      this.contentType = r.headers.get('content-type') ?? '';
      const reader = r.body!.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const msg: SseMessage = { data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) msg.event = line.slice(7);
            else if (line.startsWith('id: ')) msg.id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          msg.data = data.join('\n');
          this.messages.push(msg);
        }
      }
    } catch {
      // aborted, or the connection went away
    } finally {
      this.ended = true;
    }
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}
