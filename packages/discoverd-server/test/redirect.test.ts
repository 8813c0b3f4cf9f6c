import type { FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { redirectTarget } from '../src/redirect.js';

const req = (host: string | undefined, url: string, encrypted = false) =>
  ({
    headers: host === undefined ? {} : { host },
    raw: { url, socket: { encrypted } },
  }) as unknown as FastifyRequest;

describe('redirectTarget', () => {
  it('keeps path and query and takes the port from the Host header', () => {
    expect(redirectTarget(req('10.0.0.5:1111', '/services/x/instances/abc?y=1'), '10.0.0.7:1111')).toBe(
      'http://10.0.0.7:1111/services/x/instances/abc?y=1',
    );
    expect(redirectTarget(req('proxy.example:8080', '/ping'), '10.0.0.7:1111')).toBe(
      'http://10.0.0.7:8080/ping',
    );
  });

  it('omits the port when the Host header has none, and keeps https over TLS', () => {
    expect(redirectTarget(req('discoverd', '/a', true), '10.0.0.7:1111')).toBe('https://10.0.0.7/a');
    expect(redirectTarget(req('[::1]', '/a'), '10.0.0.7:1111')).toBe('http://10.0.0.7/a');
  });
});
