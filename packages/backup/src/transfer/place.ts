// Restores and imports put an archive's volumes back on hosts (flynn-ops.md §9.2 step 6, §10.2).

/**
 * Where each volume goes: the volumes of one old job (same app, type and old host) to one new
 * host, so the job started there finds all of them; the jobs of a type take the hosts in turn.
 */
export function placeVolumes<V extends { app_id: string; process_type: string; host_id: string }, H>(
  volumes: V[],
  hosts: H[],
): { volume: V; host: H }[] {
  const perType = new Map<string, number>();
  const groupHost = new Map<string, H>();
  return volumes.map((volume) => {
    const group = `${volume.app_id}/${volume.process_type}/${volume.host_id}`;
    let host = groupHost.get(group);
    if (host === undefined) {
      const slot = `${volume.app_id}/${volume.process_type}`;
      const k = perType.get(slot) ?? 0;
      perType.set(slot, k + 1);
      host = hosts[k % hosts.length]!;
      groupHost.set(group, host);
    }
    return { volume, host };
  });
}
