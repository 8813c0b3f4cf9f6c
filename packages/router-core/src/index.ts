export {
  type CheckedCertificate,
  certificateNames,
  checkCertificate,
  isRouteError,
  nameCovers,
} from './cert.js';
export { certificateToJSON, goTime, routeToJSON } from './json.js';
export {
  claimedKeys,
  httpDomainPrefix,
  httpRouteKey,
  requiredKeys,
  tcpRouteKey,
  usedPortKey,
} from './keys.js';
export { allocatePort } from './ports.js';
export { normaliseHost, RouteTable, type RouteTableOptions } from './table.js';
export * from './types.js';
export {
  normaliseDomain,
  normalisePath,
  type ValidateOptions,
  type ValidateResult,
  validateDelete,
  validateRoute,
  validateUpdate,
} from './validate.js';
