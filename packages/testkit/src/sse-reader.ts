import { readSse, type SseMessage } from '@flynn-edge/discoverd-client';

// A raw Server-Sent Events reader for tests against real servers: every message with its event
// name and id, comments (keep-alives) skipped. The parsing is the discoverd client's.

export type { SseMessage };

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
      if (r.body) await readSse(r.body, (msg) => this.messages.push(msg));
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
