// The app model's JSON, version 1: the contract between the CLI, the hosts and backups
// (docs/operations.md, "Apps"). Shapes follow Flynn's controller types
// (controller/types/types.go); field names are Flynn's snake_case.

export const APP_MODEL_VERSION = 1;

export const SYSTEM_APP_META = 'flynn-system-app';

export interface App {
  id: string;
  name: string;
  meta: Record<string, string>;
  /** `all-at-once` (default) or `one-by-one` (host by host: fixed ports, system apps). */
  strategy: 'all-at-once' | 'one-by-one';
  /** The current release id ('' before the first). */
  release: string;
  /** Seconds a deploy waits for its new jobs. */
  deploy_timeout: number;
  created_at: string;
  updated_at: string;
}

export interface HealthCheck {
  type: 'http' | 'tcp';
  path?: string;
  /** Milliseconds, or a Go duration string ("2s"). */
  interval?: number | string;
  threshold?: number;
  status?: number;
}

export interface PortSpec {
  port?: number;
  proto?: 'tcp' | 'udp';
  service?: { name: string; create?: boolean; check?: HealthCheck };
}

export interface VolumeReq {
  path: string;
  /** The env var that carries the mount path (default VOLUME_<PATH>). */
  env?: string;
  delete_on_stop?: boolean;
}

export interface ProcessType {
  args: string[];
  env?: Record<string, string>;
  ports?: PortSpec[];
  volumes?: VolumeReq[];
  /** One job per host. */
  omni?: boolean;
  /** discoverd service for the first port (default ports[0].service.name). */
  service?: string;
}

export interface Release {
  id: string;
  app_id: string;
  artifacts: string[];
  env: Record<string, string>;
  meta: Record<string, string>;
  processes: Record<string, ProcessType>;
  created_at: string;
}

export type Artifact =
  | { id: string; type: 'builtin'; uri: string; meta: Record<string, string>; created_at: string }
  | {
      id: string;
      type: 'tar';
      uri: string;
      sha256: string;
      size: number;
      meta: Record<string, string>;
      created_at: string;
    };

export interface Formation {
  app: string;
  release: string;
  processes: Record<string, number>;
  updated_at: string;
}

/** The deploy lock of one app; never backed up. */
export interface Deployment {
  id: string;
  release: string;
  old_release: string;
  started_at: string;
}

export interface VolumeRecord {
  id: string;
  app_id: string;
  process_type: string;
  path: string;
  host_id: string;
  created_at: string;
}
