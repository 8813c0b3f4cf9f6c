import { describe, expect, it } from 'vitest';
import { errorStatus, errors, HttpError, isRetryableError, toEnvelope, toHttpError } from '../src/index.js';

describe('error envelope', () => {
  it('maps every code to its status', () => {
    expect(errorStatus).toEqual({
      not_found: 404,
      object_not_found: 404,
      object_exists: 409,
      conflict: 409,
      precondition_failed: 412,
      syntax_error: 400,
      validation_error: 400,
      request_body_too_big: 400,
      unauthorized: 401,
      unknown_error: 500,
      ratelimited: 429,
      service_unavailable: 503,
    });
    expect(errors.objectExists('x').status).toBe(409);
    expect(errors.preconditionFailed('x').status).toBe(412);
    expect(errors.unauthorized('x').status).toBe(401);
  });

  it('serialises code, message, retry and only a non-empty detail', () => {
    expect(JSON.stringify(errors.objectNotFound('no leader found'))).toBe(
      '{"code":"object_not_found","message":"no leader found","retry":false}',
    );
    expect(toEnvelope(errors.conflict('Duplicate route', { detail: { domain: 'a.b' } }))).toEqual({
      code: 'conflict',
      message: 'Duplicate route',
      retry: false,
      detail: { domain: 'a.b' },
    });
    expect(errors.serviceUnavailable('discoverd: no known leader').toJSON()).toEqual({
      code: 'service_unavailable',
      message: 'discoverd: no known leader',
      retry: true,
    });
    expect(errors.serviceUnavailable('x', { retry: false }).retry).toBe(false);
    expect(errors.syntax().message).toBe('The provided JSON input is invalid');
    expect(errors.validation('bad').toJSON()).toEqual({
      code: 'validation_error',
      message: 'bad',
      retry: false,
    });
  });

  it('hides unknown errors behind unknown_error', () => {
    expect(toEnvelope(new Error('secret internals'))).toEqual({
      code: 'unknown_error',
      message: 'Something went wrong',
      retry: false,
    });
    expect(toEnvelope('a string')).toEqual({
      code: 'unknown_error',
      message: 'Something went wrong',
      retry: false,
    });
    expect(toHttpError(new TypeError('x')).status).toBe(500);
  });

  it('marks network and syscall errors as retryable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    expect(toEnvelope(refused)).toEqual({
      code: 'unknown_error',
      message: 'Something went wrong',
      retry: true,
    });
    expect(isRetryableError(new TypeError('fetch failed', { cause: refused }))).toBe(true);
    expect(isRetryableError(Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }))).toBe(true);
    expect(isRetryableError(new AggregateError([refused]))).toBe(true);
    expect(isRetryableError(new Error('plain'))).toBe(false);
  });

  it('rebuilds errors from envelopes', () => {
    const e = HttpError.fromEnvelope({ code: 'object_exists', message: 'exists', retry: false });
    expect(e).toBeInstanceOf(HttpError);
    expect(e?.status).toBe(409);
    expect(HttpError.fromEnvelope({ code: 'weird', message: 'm', retry: true })?.code).toBe('unknown_error');
    expect(HttpError.fromEnvelope('nope')).toBeUndefined();
  });
});
