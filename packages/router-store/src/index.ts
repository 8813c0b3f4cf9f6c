export { ROUTER_KEY_MISSING, ROUTER_KEY_WRONG, type RouteApiOptions, routeApiPlugin } from './api.js';
export { CERTIFICATE_NOT_FOUND, isRouteNotFound, ROUTE_NOT_FOUND, routeHttpError } from './errors.js';
export {
  type Backend,
  RouterEvents,
  STREAM_EVENT_TYPES,
  type StreamEvent,
  type StreamEventType,
  streamEventToJSON,
} from './events.js';
export * from './layout.js';
export { type ManagedExpect, RouteStore, type RouteStoreOptions } from './store.js';
export { type RouteHandlers, RouteSync, type RouteSyncOptions } from './sync.js';
export { KvMirror, type StoreView, VIEW_WATCH_PREFIX } from './view.js';
