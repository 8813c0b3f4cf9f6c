// Response headers as the client reads them: by name, case-insensitively. fetch's Headers fits;
// node:http answers get RawHeaders, which reads the raw list only when asked (building a WHATWG
// Headers for every answer cost more than the rest of the header handling).

export interface HeaderReader {
  get(name: string): string | null;
}

export class RawHeaders implements HeaderReader {
  constructor(private readonly raw: readonly string[]) {}

  /** Repeated fields are joined with ", " as Headers does. */
  get(name: string): string | null {
    const want = name.toLowerCase();
    let out: string | null = null;
    for (let i = 0; i + 1 < this.raw.length; i += 2) {
      if (this.raw[i]!.toLowerCase() !== want) continue;
      out = out === null ? this.raw[i + 1]! : `${out}, ${this.raw[i + 1]}`;
    }
    return out;
  }
}
