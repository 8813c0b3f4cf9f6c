export {
  type CheckedCertificate,
  certificateNames,
  checkCertificate,
  isRouteError,
  nameCovers,
} from './cert.js';
export { certificateToJSON, goTime, managedToJSON, routeToJSON } from './json.js';
export {
  claimedKeys,
  httpDomainPrefix,
  httpRouteKey,
  requiredKeys,
  tcpRouteKey,
  usedPortKey,
} from './keys.js';
export * from './managed.js';
export { allocatePort } from './ports.js';
export { normaliseHost, RouteTable, type RouteTableOptions } from './table.js';
export * from './types.js';
export {
  idProblem,
  MAX_CERT_PEM_BYTES,
  MAX_DOMAIN_LENGTH,
  MAX_ID_LENGTH,
  MAX_KEY_PEM_BYTES,
  MAX_PARENT_REF_LENGTH,
  MAX_PATH_LENGTH,
  managedDomain,
  normaliseDomain,
  normalisePath,
  type ValidateOptions,
  type ValidateResult,
  validateDelete,
  validateRoute,
  validateUpdate,
} from './validate.js';
