enum S {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerLine,
  TrailerLf,
  Done,
}

/**
 * Extracts the data of a chunked body. It runs behind a validating `BodyFraming` (which decides
 * where the body ends and rejects malformed input), so it only has to follow well-formed input.
 * Used where the client cannot take chunked coding: HTTP/1.0 clients and HTTP/2 streams.
 */
export class Dechunker {
  private state = S.Size;
  private remaining = 0;
  private lineEmpty = true;

  /** `out` gets each run of data bytes. */
  constructor(private readonly out: (data: Buffer) => void) {}

  /** Passes the data bytes in buf[start, end) to `out`. */
  feed(buf: Buffer, start: number, end: number): void {
    const out = this.out;
    let i = start;
    while (i < end && this.state !== S.Done) {
      if (this.state === S.Data) {
        const n = Math.min(this.remaining, end - i);
        if (n > 0) out(buf.subarray(i, i + n));
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = S.DataCr;
        continue;
      }
      const c = buf[i++];
      switch (this.state) {
        case S.Size: {
          const h =
            c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (h >= 0) this.remaining = this.remaining * 16 + h;
          else if (c === 13) this.state = S.SizeLf;
          else this.state = S.Ext;
          break;
        }
        case S.Ext:
          if (c === 13) this.state = S.SizeLf;
          break;
        case S.SizeLf:
          if (this.remaining === 0) {
            this.state = S.TrailerLine;
            this.lineEmpty = true;
          } else this.state = S.Data;
          break;
        case S.DataCr:
          this.state = S.DataLf;
          break;
        case S.DataLf:
          this.state = S.Size;
          break;
        case S.TrailerLine:
          if (c === 13) this.state = S.TrailerLf;
          else this.lineEmpty = false;
          break;
        case S.TrailerLf:
          if (this.lineEmpty) this.state = S.Done;
          else {
            this.state = S.TrailerLine;
            this.lineEmpty = true;
          }
          break;
      }
    }
  }
}
