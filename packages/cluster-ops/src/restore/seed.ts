import { keys, type StoreOp } from '@flynn-edge/app-model';
import { type State, type Step, storeOf } from '../bootstrap/state.js';
import { backedUp, backedUpApp, type RestoreContext } from './context.js';

// restore-store (§9.2 step 5): the backup's keys written back in transactions of at most 768 KiB
// (request bodies cap at 1 MiB), guarded by the `cluster/restore` marker: the first batch needs it
// absent (a second restore into the same store fails there), the others need it unchanged since,
// and the last marks it complete. Certificates go first so that no route ever names a missing one.
// Routers start only after the seed, so they never see half of it.

export const RESTORE_MARKER = 'cluster/restore';
const BATCH_BYTES = 768 * 1024;

/** The keys the restore writes itself: not seeded, compared differently after. */
export function markRewritten(ctx: RestoreContext, systemApps: string[]): void {
  ctx.rewritten.add(keys.clusterConfig);
  for (const name of systemApps) {
    const prior = backedUpApp(ctx, name);
    if (!prior) continue;
    ctx.rewritten.add(keys.app(name));
    ctx.rewritten.add(keys.appId(prior.app.id));
    ctx.rewritten.add(keys.formation(prior.app.id));
    if (prior.release) {
      ctx.rewritten.add(keys.release(prior.app.id, prior.release.id));
      for (const a of prior.release.artifacts) ctx.rewritten.add(keys.artifact(a));
    }
  }
}

/** Volumes get new ids on new hosts (restore-data records them). */
export const isVolumeKey = (key: string) => key.startsWith('volumes/');

function batches(ops: StoreOp[]): StoreOp[][] {
  const out: StoreOp[][] = [];
  let cur: StoreOp[] = [];
  let size = 0;
  for (const op of ops) {
    const n = Buffer.byteLength(JSON.stringify(op)) + 1;
    if (cur.length > 0 && size + n > BATCH_BYTES) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(op);
    size += n;
  }
  out.push(cur);
  return out;
}

export async function restoreStore(step: Step, state: State): Promise<void> {
  const ctx = state.restore;
  if (!ctx) throw new Error('bootstrap: restore-store needs --from-backup');
  markRewritten(ctx, (step.system_apps as string[] | undefined) ?? []);
  const config = backedUp<Record<string, unknown>>(ctx, keys.clusterConfig) ?? {};
  const bootstrapId = String(state.stepData['bootstrap-id'] ?? '');
  const ops: StoreOp[] = [
    {
      op: 'put',
      key: keys.clusterConfig,
      value: JSON.stringify({
        ...config,
        domain: ctx.archive.manifest.cluster.domain,
        bootstrap_id: bootstrapId || config.bootstrap_id,
        created_at: new Date().toISOString(),
        restored_from: { bootstrap_id: config.bootstrap_id, created_at: ctx.archive.manifest.created_at },
      }),
    },
  ];
  const copied = [...ctx.kv.entries()].filter(([k]) => !ctx.rewritten.has(k) && !isVolumeKey(k));
  const certFirst = (k: string) => (k.startsWith('certificate') ? 0 : 1);
  copied.sort(([a], [b]) => certFirst(a) - certFirst(b) || (a < b ? -1 : a > b ? 1 : 0));
  for (const [key, value] of copied) ops.push({ op: 'put', key, value });
  const kv = storeOf(state).kv;
  const marker = (s: string) => ({
    op: 'put' as const,
    key: RESTORE_MARKER,
    value: JSON.stringify({ state: s, bootstrap_id: ctx.archive.manifest.cluster.bootstrap_id }),
  });
  const all = batches(ops);
  let markerRevision = 0;
  for (let i = 0; i < all.length; i++) {
    const last = i === all.length - 1;
    const first = i === 0;
    const res = await kv.txn({
      compare: first
        ? [{ key: RESTORE_MARKER, op: 'absent' }]
        : [{ key: RESTORE_MARKER, op: '=', mod_revision: markerRevision }],
      success: [...all[i], ...(first || last ? [marker(last ? 'complete' : 'loading')] : [])],
    });
    if (!res.succeeded) {
      throw new Error(
        first
          ? 'this cluster store holds a restore already (cluster/restore); bootstrap needs fresh hosts'
          : 'the cluster store changed during the restore (cluster/restore); start again on fresh hosts',
      );
    }
    if (first) markerRevision = res.revision;
  }
  ctx.restored.keys = copied.length + 1;
  state.stepData[step.id] = `${copied.length + 1} keys in ${all.length} transactions`;
}
