export { type Backend, shuffled, splitAddr } from './dial.js';
export { type BackendSupplier, type TcpLogger, TcpRouteProxy, type TcpRouteProxyOptions } from './proxy.js';
