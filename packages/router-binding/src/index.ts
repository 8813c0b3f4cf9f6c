export { RouteState, type RouteStateOptions, type TcpRoutes } from './route-state.js';
export { RELEASE_LINGER_MS, ServiceBackends } from './service-backends.js';
export { RESTART_DELAY_MS, ServiceCache, type ServiceCacheDeps } from './service-cache.js';
export type { Backend, BackendListener, Logger, ServiceWatch, WatchSource } from './types.js';
