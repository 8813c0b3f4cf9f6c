/** What a simulation run injected and observed; the summary prints these counts. */
export interface SimStats {
  crashes: number;
  powerFailures: number;
  partitions: number;
  pauses: number;
  dropped: number;
  duplicated: number;
  reordered: number;
  delivered: number;
  diskErrors: number;
  snapshotInstalls: number;
  snapshotsTaken: number;
  membershipChanges: number;
  leaderTransfers: number;
  elections: number;
}

export function emptyStats(): SimStats {
  return {
    crashes: 0,
    powerFailures: 0,
    partitions: 0,
    pauses: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    delivered: 0,
    diskErrors: 0,
    snapshotInstalls: 0,
    snapshotsTaken: 0,
    membershipChanges: 0,
    leaderTransfers: 0,
    elections: 0,
  };
}
