export {
  type ClientHelloScan,
  MAX_CLIENT_HELLO_BYTES,
  peekClientHello,
  scanClientHello,
} from './client-hello.js';
export { certificateCovers, normaliseHost } from './covers.js';
export {
  type DefaultCertificate,
  type DefaultCertificateOptions,
  resolveDefaultCertificate,
} from './default.js';
export {
  generateSelfSigned,
  generateSelfSignedAsync,
  type PemPair,
  type SelfSignedOptions,
} from './selfsigned.js';
export {
  type CertificateMaterial,
  SniContextCache,
  type SniContextCacheOptions,
  type SniLookupResult,
  type SniStats,
  UnknownServerNameError,
} from './sni.js';
export { SniTerminator, type SniTerminatorOptions } from './terminator.js';
export {
  type CertificateInfo,
  certificateNames,
  splitPemCertificates,
  type ValidateOptions,
  type ValidationResult,
  validateKeyPair,
} from './validate.js';
