import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LogMessage } from '@flynn-edge/syslog';

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `logstore-${tag}-`));
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
