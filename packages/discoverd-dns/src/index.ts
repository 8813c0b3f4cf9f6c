export { MAX_UDP_RECORDS, soaRecord } from './answer.js';
export { DEFAULT_ZONE, type NameQuery, parseQuestionName } from './names.js';
export { normalizeRecursor, parseRecursors } from './recursor.js';
export { DnsServer } from './server.js';
export type { DnsAddresses, DnsDataSource, DnsInstance, DnsServerOptions, DnsStats } from './types.js';
