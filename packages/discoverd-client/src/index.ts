export {
  DiscoverdClient,
  type DiscoverdClientOptions,
  type ReadOptions,
  type RegisterOptions,
  type SetMetaRequest,
} from './client.js';
export { type Clock, sleep, systemClock, type TimerHandle } from './clock.js';
export {
  type ClientErrorCode,
  DiscoverdError,
  type DiscoverdErrorInit,
  errorFromResponse,
  isDiscoverdError,
  isNotFound,
  isObjectExists,
  isPreconditionFailed,
} from './errors.js';
export { type HeaderReader, RawHeaders } from './headers.js';
export {
  buildInstance,
  ENV_META_KEYS,
  type Env,
  expandAddr,
  fillMeta,
  Heartbeater,
  type HeartbeaterOptions,
  type HeartbeatTiming,
  type HeartbeatTransport,
  type InstanceOptions,
} from './heartbeat.js';
export {
  CLUSTER_KEY_HEADER,
  clusterKeyHeaders,
  type FetchLike,
  type HttpResult,
  type RequestOptions,
  Transport,
  type TransportOptions,
} from './http.js';
export * from './kv.js';
export type { ReconnectTiming } from './resumable.js';
export {
  DEFAULT_SERVER,
  normalizeServer,
  originOf,
  PeerTrust,
  parseDiscoverdEnv,
  ServerList,
} from './servers.js';
export { decodeSseJson, readSse, type SseMessage, SseParser, SseServerError } from './sse.js';
export { AsyncQueue, LeaderWatch, Watch, type WatchDeps, WatchDiffer, type WatchOptions } from './watch.js';
