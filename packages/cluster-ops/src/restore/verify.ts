import { keys } from '@flynn-edge/app-model';
import { type State, type Step, storeOf } from '../bootstrap/state.js';
import { isVolumeKey } from './seed.js';

// restore-verify (§9.2 step 9): every key the restore copied holds its backed-up value byte for
// byte; the user apps' records, which their deploys rewrote, still name the same release and
// counts. Then the summary line.

export async function restoreVerify(step: Step, state: State): Promise<void> {
  const ctx = state.restore;
  if (!ctx) throw new Error('bootstrap: restore-verify needs --from-backup');
  const now = new Map((await storeOf(state).kv.list('')).entries.map((e) => [e.key, e.value]));
  const bad: string[] = [];
  for (const [key, value] of ctx.kv) {
    if (ctx.rewritten.has(key) || isVolumeKey(key)) continue;
    const got = now.get(key);
    if (got === value) continue;
    if (got !== undefined && sameRecord(key, value, got)) continue;
    bad.push(key);
  }
  if (bad.length > 0) {
    throw new Error(
      `restored store differs from the backup at ${bad.length} keys: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}`,
    );
  }
  const r = ctx.restored;
  state.stepData[step.id] =
    `restored ${r.keys} keys, ${r.volumes} volumes, ${r.artifacts} artifacts from ${ctx.archive.file}`;
}

/** An app or formation its deploy rewrote (times) but that means the same. */
function sameRecord(key: string, want: string, got: string): boolean {
  const a = JSON.parse(want) as Record<string, unknown>;
  const b = JSON.parse(got) as Record<string, unknown>;
  if (key.startsWith(keys.appsPrefix)) return a.id === b.id && a.release === b.release;
  if (key.startsWith('formations/'))
    return a.release === b.release && JSON.stringify(a.processes) === JSON.stringify(b.processes);
  return false;
}
