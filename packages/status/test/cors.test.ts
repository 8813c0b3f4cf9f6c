import { describe, expect, it } from 'vitest';
import { corsHeaders, isPreflight } from '../src/cors.js';

describe('CORS', () => {
  it('answers with Flynn’s headers for the given origin, without Allow-Credentials', () => {
    const h = corsHeaders('https://dash.example');
    expect(h).toEqual({
      'access-control-allow-origin': 'https://dash.example',
      'access-control-allow-methods': 'GET,POST,PUT,PATCH,DELETE,HEAD',
      'access-control-allow-headers':
        'Auth-Key,Authorization,Accept,Content-Type,If-Match,If-None-Match,X-GRPC-Web',
      'access-control-expose-headers': 'ETag,Content-Disposition',
      'access-control-max-age': '3600',
    });
    expect(Object.keys(h)).not.toContain('access-control-allow-credentials');
  });
  it('adds nothing without an Origin', () => expect(corsHeaders(undefined)).toEqual({}));
  it('a preflight is OPTIONS with an Origin', () => {
    expect(isPreflight('OPTIONS', 'x')).toBe(true);
    expect(isPreflight('OPTIONS', undefined)).toBe(false);
    expect(isPreflight('GET', 'x')).toBe(false);
  });
});
