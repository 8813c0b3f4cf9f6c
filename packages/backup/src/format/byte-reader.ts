// Exact-size reads over a stream of chunks, without copying when a read fits in one chunk:
// the archive reader walks a multi-GB file once with constant memory.

export class ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private eof = false;
  /** Absolute offset of the next unread byte. */
  offset = 0;

  private received = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    /** Told the bytes received so far, chunk by chunk (progress). */
    private readonly onReceived?: (bytes: number) => void,
  ) {}

  /** Up to `n` bytes; fewer only at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    if (this.pos + n <= this.chunk.length) {
      const b = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.offset += n;
      return b;
    }
    const parts: Buffer[] = [];
    const got = await this.pipe(n, (b) => parts.push(b));
    return Buffer.concat(parts, got);
  }

  /** Hands the next `n` bytes to `sink` chunk by chunk; returns how many there were. */
  async pipe(n: number, sink: (b: Buffer) => void): Promise<number> {
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.chunk.length - this.pos);
      sink(this.chunk.subarray(this.pos, this.pos + take));
      this.pos += take;
      this.offset += take;
      got += take;
    }
    return got;
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.eof) return false;
      const r = await this.source.next();
      if (r.done) {
        this.eof = true;
        return false;
      }
      this.chunk = r.value;
      this.pos = 0;
      this.received += r.value.length;
      this.onReceived?.(this.received);
    }
    return true;
  }
}
