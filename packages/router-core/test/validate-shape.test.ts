import { describe, expect, it } from 'vitest';
import { idProblem, normaliseDomain, normalisePath, validateRoute } from '../src/index.js';

// Field shapes checked before anything reaches the store (issue 11).

const bad = (x: unknown) => typeof x === 'object' && x !== null && 'reason' in x;

describe('route field shapes', () => {
  it('accepts RFC 3986 paths and refuses dot segments, "//", controls and raw bytes', () => {
    for (const p of [
      '',
      '/',
      '/a',
      '/a/b/',
      '/caf%C3%A9/',
      "/a-b_c~d.e!$&'()*+,;=:@/",
      '/.well-known/',
      '/a..b/',
    ]) {
      expect(bad(normalisePath(p)), p).toBe(false);
    }
    for (const p of [
      '/a/../',
      '/..',
      '/./',
      '/a//b/',
      '//',
      '/%2e%2E/',
      '/.%2e/',
      '/%2E/',
      '/a\u0000/',
      '/a\u007f/',
      '/a\\b/',
      '/é/',
      '/%g0/',
      '/%2/',
      'a/',
      `/${'a'.repeat(2048)}/`,
    ]) {
      expect(bad(normalisePath(p)), JSON.stringify(p)).toBe(true);
    }
  });

  it('limits domains to 253 characters and labels to 63', () => {
    const l63 = 'a'.repeat(63);
    expect(normaliseDomain(`${l63}.${l63}.${l63}.${'a'.repeat(61)}`)).toHaveLength(253);
    expect(bad(normaliseDomain(`${l63}.${l63}.${l63}.${'a'.repeat(62)}`))).toBe(true);
    expect(bad(normaliseDomain(`${'a'.repeat(64)}.test`))).toBe(true);
    expect(bad(normaliseDomain(`*.${l63}.${l63}.${l63}.${'a'.repeat(60)}`))).toBe(true);
  });

  it('takes ids of URL-safe characters up to 128, and services that are DNS labels', () => {
    for (const id of ['abc', '0f8fad5b-d9cb-469f-a165-70867728950e', 'a.b_c~d', 'a'.repeat(128)]) {
      expect(idProblem(id), id).toBeUndefined();
    }
    for (const id of ['a'.repeat(129), 'a/b', 'a b', '.', '..', '.x', 'é', 'a\n']) {
      expect(idProblem(id), id).toBeDefined();
    }
    const svc = (service: unknown) => validateRoute({ type: 'tcp', service, port: 3000 }, []).error?.field;
    for (const s of ['a', 'web-1', 'a'.repeat(63)]) expect(svc(s), s).toBeUndefined();
    for (const s of ['', 'Web', 'a_b', 'a.b', '-a', 'a-', 'a'.repeat(64), 5])
      expect(svc(s), String(s)).toBe('service');
  });
});
