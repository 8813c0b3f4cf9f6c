export { checkCommand } from './check-command.js';
export {
  type Command,
  type CommandName,
  CommandType,
  decodeCommand,
  type ExpireKey,
  encodeCommand,
  ZERO_TIME,
} from './commands.js';
export { errors, READ_ERRORS } from './errors.js';
export {
  DEFAULT_WATCH_HISTORY,
  type KvListOptions,
  KvStore,
  type KvTxnOutcome,
  WatchHistory,
} from './kv-store.js';
export {
  isRedirectStatus,
  MAX_REDIRECT_HOPS,
  PeerTrust,
  type RedirectHop,
} from './peer-trust.js';
export { type Outcome, ServiceRegistry } from './services.js';
export { ShapeError } from './shape.js';
export { type ApplyResult, DiscoverdState, type DiscoverdStateOptions } from './state.js';
export {
  type ErrorCode,
  EVENT_KIND_BITS,
  EVENT_KINDS,
  type Event,
  type EventKind,
  type HhError,
  type Instance,
  instanceEqual,
  instanceId,
  type KvCompare,
  type KvEntry,
  type KvEvent,
  type KvListResult,
  type KvOp,
  type KvOpResult,
  type KvTxnResult,
  type LeaderType,
  normalizeInstance,
  type ServiceConfig,
  type ServiceMeta,
} from './types.js';
export { compareKeys, goQuote } from './util.js';
export {
  jsonTooDeep,
  LIMITS,
  MAX_KV_KEY_BYTES,
  MAX_KV_VALUE_BYTES,
  parseInstance,
  parseServiceConfig,
  type SplitHostPortResult,
  splitHostPort,
  validateAddr,
  validateInstance,
  validateInstanceMeta,
  validateInstanceRef,
  validateKvCompare,
  validateKvKey,
  validateKvOp,
  validateKvPrefix,
  validateKvTxn,
  validateKvTxnLimits,
  validateProto,
  validateServiceMetaData,
  validateServiceName,
} from './validate.js';
