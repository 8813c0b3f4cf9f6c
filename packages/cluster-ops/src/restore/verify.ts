import { type State, type Step, storeOf } from '../bootstrap/state.js';
import { isVolumeKey } from './seed.js';

// restore-verify (§9.2 step 9): every key the restore copied holds its backed-up value byte for
// byte. It runs once the store is seeded and the volumes are recorded, before anything that runs
// afterwards (deploys, the routers' ACME issuer) changes records on purpose. restore-summary prints
// the figures before bootstrap's final lines.

export async function restoreVerify(step: Step, state: State): Promise<void> {
  const ctx = state.restore;
  if (!ctx) throw new Error('bootstrap: restore-verify needs --from-backup');
  const now = new Map((await storeOf(state).kv.list('')).entries.map((e) => [e.key, e.value]));
  const bad: string[] = [];
  let checked = 0;
  for (const [key, value] of ctx.kv) {
    if (ctx.rewritten.has(key) || isVolumeKey(key)) continue;
    checked++;
    if (now.get(key) !== value) bad.push(key);
  }
  if (bad.length > 0) {
    throw new Error(
      `restored store differs from the backup at ${bad.length} keys: ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}`,
    );
  }
  state.stepData[step.id] = `${checked} keys as backed up`;
}

export async function restoreSummary(step: Step, state: State): Promise<void> {
  const ctx = state.restore;
  if (!ctx) throw new Error('bootstrap: restore-summary needs --from-backup');
  const r = ctx.restored;
  state.stepData[step.id] =
    `restored ${r.keys} keys, ${r.volumes} volumes, ${r.artifacts} artifacts from ${ctx.archive.file}`;
}
