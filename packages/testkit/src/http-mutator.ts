// One seeded mutator of HTTP/1.1 byte streams for the parser and proxy fuzz tests: deletions,
// insertions of tokens that matter for framing and smuggling, byte replacements, truncations,
// duplicated runs, and pipelined seeds appended.

/** Tokens that change how a head frames or parses. */
export const HTTP_FUZZ_TOKENS: readonly string[] = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  ',',
  '\0',
  '\x7f',
  '\xff',
  'é',
  'Content-Length: 3\r\n',
  'Transfer-Encoding: chunked\r\n',
  ' folded\r\n',
  '0\r\n\r\n',
  'ffffffffff',
  'HTTP/1.1',
  '\r\n\r\n',
  'chunked',
  '0',
];

export interface HttpMutator {
  /** 1–4 mutations of `seed` (latin1: one char per byte). */
  mutate(seed: string): string;
  /** Up to 200 bytes, half of them from HTTP's alphabet. */
  randomBytes(): Buffer;
}

/**
 * A mutator drawing from `random` (a seeded generator returning [0, 1)). `tokens` are inserted
 * besides HTTP_FUZZ_TOKENS (a Host the test routes, say); `pipelined` are appended whole.
 */
export function httpMutator(
  random: () => number,
  opts: { tokens?: readonly string[]; pipelined?: readonly string[] } = {},
): HttpMutator {
  const int = (n: number) => Math.floor(random() * n);
  const tokens = [...HTTP_FUZZ_TOKENS, ...(opts.tokens ?? [])];
  const pipelined = opts.pipelined ?? [];
  return {
    mutate(seed: string): string {
      let out = seed;
      const n = 1 + int(4);
      for (let k = 0; k < n; k++) {
        const pos = int(out.length + 1);
        switch (int(pipelined.length > 0 ? 6 : 5)) {
          case 0:
            out = out.slice(0, pos) + out.slice(pos + 1 + int(4));
            break;
          case 1:
            out = out.slice(0, pos) + tokens[int(tokens.length)] + out.slice(pos);
            break;
          case 2:
            out = out.slice(0, pos) + String.fromCharCode(int(256)) + out.slice(pos + 1);
            break;
          case 3:
            out = out.slice(0, pos);
            break;
          case 4:
            out = out.slice(0, pos) + out.slice(pos, pos + 20) + out.slice(pos);
            break;
          default:
            out += pipelined[int(pipelined.length)];
        }
      }
      return out;
    },
    randomBytes(): Buffer {
      const alphabet = 'GET /HTP1.\r\n:aH ';
      const buf = Buffer.alloc(1 + int(200));
      for (let i = 0; i < buf.length; i++) {
        buf[i] = random() < 0.5 ? int(256) : alphabet.charCodeAt(int(alphabet.length));
      }
      return buf;
    },
  };
}
