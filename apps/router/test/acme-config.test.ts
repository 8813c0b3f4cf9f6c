import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

// The issuer's settings (issue 18): off without ACME_DIRECTORY_URL; env and flags as elsewhere.

const COOKIE_KEY = randomBytes(32).toString('base64');

describe('ACME configuration', () => {
  it('is off without a directory, with defaults once one is set', () => {
    expect(loadConfig([], { COOKIE_KEY }, 1).acme).toBeUndefined();
    const c = loadConfig([], { COOKIE_KEY, ACME_DIRECTORY_URL: 'https://acme.test/dir' }, 1).acme!;
    expect(c).toMatchObject({ directoryUrl: 'https://acme.test/dir', termsAgreed: false, maxInFlight: 5 });
    expect(c.timing).toMatchObject({ backoffBaseMs: 60_000, backoffMaxMs: 86_400_000, pollMs: 10_000 });
    expect(c.timing.renewFraction).toBeCloseTo(1 / 3);
  });

  it('reads the environment and flags', () => {
    const c = loadConfig(
      ['-acme-max-in-flight', '2'],
      {
        COOKIE_KEY,
        ACME_DIRECTORY_URL: 'https://acme.test/dir',
        ACME_CONTACT: 'a@example.test, mailto:b@example.test',
        ACME_TERMS_AGREED: 'true',
        ACME_RENEW_FRACTION: '0.9',
        ACME_BACKOFF_BASE: '200ms',
        ACME_POLL_INTERVAL: '1s',
      },
      1,
    ).acme!;
    expect(c.contact).toEqual(['a@example.test', 'mailto:b@example.test']);
    expect(c.termsAgreed).toBe(true);
    expect(c.maxInFlight).toBe(2);
    expect(c.timing).toMatchObject({ renewFraction: 0.9, backoffBaseMs: 200, pollMs: 1000 });
  });

  it('refuses bad values with a clear error', () => {
    const env = { COOKIE_KEY, ACME_DIRECTORY_URL: 'https://acme.test/dir' };
    expect(() => loadConfig([], { ...env, ACME_DIRECTORY_URL: 'not a url' }, 1)).toThrow(ConfigError);
    expect(() => loadConfig([], { ...env, ACME_RENEW_FRACTION: '1.5' }, 1)).toThrow(/ACME_RENEW_FRACTION/);
    expect(() => loadConfig([], { ...env, ACME_MAX_IN_FLIGHT: '0' }, 1)).toThrow(/ACME_MAX_IN_FLIGHT/);
    expect(() => loadConfig([], { ...env, ACME_CA_FILE: '/nonexistent.pem' }, 1)).toThrow(/ACME_CA_FILE/);
  });
});
