import type { HhError } from './types.js';
import { goQuote } from './util.js';

// Flynn's exact error texts for the writes that go through the state machine.

export const errors = {
  serviceExists: (service: string): HhError => ({
    code: 'object_exists',
    message: `discoverd: service ${goQuote(service)} already exists`,
  }),
  serviceNotFound: (service: string): HhError => ({
    code: 'object_not_found',
    message: `discoverd: service ${goQuote(service)} not found`,
  }),
  metaExists: (service: string): HhError => ({
    code: 'object_exists',
    message: `Service metadata for ${goQuote(service)} already exists, use index=n to set`,
  }),
  metaMissing: (service: string): HhError => ({
    code: 'precondition_failed',
    message: `Service metadata for ${goQuote(service)} does not exist, use index=0 to set`,
  }),
  metaWrongIndex: (service: string): HhError => ({
    code: 'precondition_failed',
    message: `Service metadata for ${goQuote(service)} exists, but wrong index provided`,
  }),
  notManual: (): HhError => ({
    code: 'validation_error',
    message: 'service leader election type is not manual',
  }),
  /** An entry that cannot be applied at all (undecodable, bad index); maps to 500. */
  invalidEntry: (message: string): HhError => ({ code: 'unknown_error', message }),
  validation: (message: string): HhError => ({ code: 'validation_error', message }),
} as const;

// Read-side messages the HTTP layer answers with (not produced by apply, listed for reuse).
export const READ_ERRORS = {
  /** GET /services/:s/instances with an empty list. */
  instancesNotFound: (service: string): HhError => ({
    code: 'object_not_found',
    message: `service not found: ${goQuote(service)}`,
  }),
  /** GET /services/:s/leader without a leader. */
  noLeader: (): HhError => ({ code: 'object_not_found', message: 'no leader found' }),
  /** GET /services/:s/meta without meta. */
  metaNotFound: (): HhError => ({ code: 'object_not_found', message: 'service meta not found' }),
} as const;
