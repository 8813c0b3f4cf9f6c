import { keys } from '@flynn-edge/app-model';
import {
  nodeTransport,
  openEntry,
  paths,
  placeVolumes,
  pushArtifact,
  receiveVolumeRetrying,
} from '@flynn-edge/backup';
import { type State, type Step, storeOf } from '../bootstrap/state.js';

// restore-data (§9.2 step 6): each artifact onto two hosts (the others fetch it from them by
// sha256 when a job needs it), each volume received on a live host — the k-th volume of an app's
// process type on the k-th host, so a type's volumes spread like its jobs — and recorded under
// its new id and host, where the deploys of restore-apps find and mount it.

const ARTIFACT_COPIES = 2;

export async function restoreData(step: Step, state: State): Promise<void> {
  const ctx = state.restore;
  if (!ctx) throw new Error('bootstrap: restore-data needs --from-backup');
  const { archive } = ctx;
  const t = nodeTransport(state.config.clusterKey);
  const hosts = state.hosts;
  const url = (h: { addr: string }) => `http://${h.addr}`;
  for (const [i, a] of archive.manifest.artifacts.entries()) {
    const copies = Math.min(ARTIFACT_COPIES, hosts.length);
    for (let c = 0; c < copies; c++) {
      const host = hosts[(i + c) % hosts.length];
      await pushArtifact(t, url(host), a.sha256, openEntry(archive, paths.artifact(a.id)));
    }
    ctx.restored.artifacts++;
  }
  const store = storeOf(state);
  for (const { volume: v, host } of placeVolumes(archive.manifest.volumes, hosts)) {
    const meta = { app_id: v.app_id, process_type: v.process_type, path: v.path };
    const { id } = await receiveVolumeRetrying(
      t,
      url(host),
      () => openEntry(archive, paths.volume(v.id)),
      meta,
      (err) => state.note?.(`volume ${v.id}: ${err.message}; trying again`),
    );
    await store.putVolume({
      id,
      app_id: v.app_id,
      process_type: v.process_type,
      path: v.path,
      host_id: host.id,
      created_at: v.created_at,
    });
    ctx.rewritten.add(`${keys.volumesPrefix(v.app_id)}${v.id}`);
    ctx.restored.volumes++;
    state.note?.(`volume ${v.id} → ${id} on ${host.id}`);
  }
  state.stepData[step.id] = `${ctx.restored.artifacts} artifacts, ${ctx.restored.volumes} volumes`;
}
