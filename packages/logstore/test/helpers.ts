import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LogMessage } from '@flynn-edge/syslog';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `logstore-${tag}-`));
}

const dirs: string[] = [];

/** A temp dir removed by removeDirs (run it in afterEach). */
export function newDir(tag: string): string {
  const d = tmpDir(tag);
  dirs.push(d);
  return d;
}

export function removeDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function seqs(ms: LogMessage[]): number[] {
  return ms.map((m) => m.seq);
}

export function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

/** Files in dir, with sizes. */
export function listing(dir: string): Array<{ name: string; size: number }> {
  return fs
    .readdirSync(dir)
    .sort()
    .map((name) => ({ name, size: fs.statSync(path.join(dir, name)).size }));
}

/** A deterministic clock: 1 ms per call from a fixed start. */
export function fakeClock(startMicros = 1_700_000_000_000_000n): () => bigint {
  let t = startMicros;
  return () => {
    t += 1000n;
    return t;
  };
}

/** Lines joined by '\n' with their bounds, as a spool read hands them over. */
export function lines(texts: string[]): { data: Buffer; starts: number[]; ends: number[] } {
  const data = Buffer.from(texts.map((t) => `${t}\n`).join(''));
  const starts: number[] = [];
  const ends: number[] = [];
  let p = 0;
  for (const t of texts) {
    const n = Buffer.byteLength(t);
    starts.push(p);
    ends.push(p + n);
    p += n + 1;
  }
  return { data, starts, ends };
}
