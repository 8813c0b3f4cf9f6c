// The manifests of the two archive formats (flynn-ops.md §8.2, §10.2): stable, versioned
// contracts. Readers ignore unknown members; `format` must match; a greater `version` is refused.

export const BACKUP_FORMAT = 'flynn-edge-backup';
export const EXPORT_FORMAT = 'flynn-edge-app-export';
export const FORMAT_VERSION = 1;

/** Keys never written to a backup: locks (a deploy's, an ACME order's) and the restore marker. */
export const EXCLUDED_PREFIXES = ['deployments/', 'acme/orders/', 'cluster/restore'];

export interface ArtifactEntry {
  id: string;
  sha256: string;
  size: number;
}

export interface VolumeEntry {
  id: string;
  app_id: string;
  /** The app's name. */
  app: string;
  process_type: string;
  path: string;
  host_id: string;
  snapshot_id: string;
  created_at: string;
  /** Bytes of the uncompressed `zfs send` stream. */
  stream_bytes: number;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: number;
  created_at: string;
  flynn_edge_version: string;
  cluster: { domain: string; bootstrap_id?: string; hosts: string[]; discoverd_peers: string };
  kv: { revision: number; count: number; excluded_prefixes: string[] };
  artifacts: ArtifactEntry[];
  volumes: VolumeEntry[];
  volumes_included: boolean;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  version: number;
  created_at: string;
  flynn_edge_version: string;
  app: string;
  app_id: string;
  cluster_domain: string;
  kv_revision: number;
  volumes: VolumeEntry[];
}

/** Entry paths below the archive's top directory. */
export const paths = {
  manifest: 'flynn-edge.json',
  kv: 'kv.ndjson.gz',
  sums: 'SHA256SUMS',
  artifact: (id: string) => `artifacts/${id}.tar.gz`,
  volume: (id: string) => `volumes/${id}.zfs.gz`,
};

/** Top directory of a backup: `flynn-backup-YYYY-MM-DD_HHMMSS` (UTC). */
export function backupTopDir(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `flynn-backup-${at.getUTCFullYear()}-${p(at.getUTCMonth() + 1)}-${p(at.getUTCDate())}_${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
}

/** Pretty JSON as Flynn's WriteJSON: 2-space indent and a trailing newline. */
export function prettyJson(v: unknown): Buffer {
  return Buffer.from(`${JSON.stringify(v, null, 2)}\n`);
}
