import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, checkCookieKey, loadConfig } from '../src/config.js';

const COOKIE_KEY = randomBytes(32).toString('base64');

describe('router configuration (flags and environment, spec §2.1)', () => {
  it("has Flynn's defaults", () => {
    const c = loadConfig([], { COOKIE_KEY }, 2);
    expect(c.httpPorts).toEqual([8080]);
    expect(c.httpsPorts).toEqual([4433]);
    expect(c.tcpRange).toEqual({ start: 3000, end: 3500 });
    expect(c.apiPort).toBe(5000);
    expect(c.listenIp).toBe('0.0.0.0');
    expect(c.tcpIp).toBe('0.0.0.0');
    expect(c.workers).toBe(2);
    expect(c.discoverd).toEqual(['127.0.0.1:1111']);
    expect(c.proxyProtocol).toBe(false);
    expect(c.legacyTls).toBe(false);
    expect(c.idleTimeoutMs).toBe(300_000);
    expect(c.headerTimeoutMs).toBe(60_000);
    expect(c.maxConnections).toBe(10_000);
    expect(c.acceptPolicy).toBe('kernel');
  });

  it('takes -accept-policy kernel or round-robin, nothing else', () => {
    expect(loadConfig(['-accept-policy', 'round-robin'], { COOKIE_KEY }, 2).acceptPolicy).toBe('round-robin');
    expect(() => loadConfig(['-accept-policy', 'rr'], { COOKIE_KEY }, 2)).toThrow(ConfigError);
  });

  it('takes Go-style flags and the environment', () => {
    const c = loadConfig(
      ['-http-port', '80', '-https-port=443', '--api-port', '5001', '-tcp-ip', '10.0.0.2', '-workers', '0'],
      {
        COOKIE_KEY,
        LISTEN_IP: '10.0.0.1',
        PROXY_PROTOCOL: 'true',
        LEGACY_TLS: 'true',
        ADDITIONAL_HTTP_PORTS: '8000, 8001',
        ADDITIONAL_HTTPS_PORTS: '8443',
        DISCOVERD: '10.0.0.1:1111,10.0.0.2:1111',
      },
      4,
    );
    expect(c.httpPorts).toEqual([80, 8000, 8001]);
    expect(c.httpsPorts).toEqual([443, 8443]);
    expect(c.apiPort).toBe(5001);
    expect(c.listenIp).toBe('10.0.0.1');
    expect(c.tcpIp).toBe('10.0.0.2');
    expect(c.workers).toBe(0);
    expect(c.proxyProtocol).toBe(true);
    expect(c.legacyTls).toBe(true);
    expect(c.discoverd).toEqual(['10.0.0.1:1111', '10.0.0.2:1111']);
  });

  it('lets DEFAULT_HTTP_PORT=0 disable HTTP, and refuses DEFAULT_HTTPS_PORT=0', () => {
    expect(
      loadConfig([], { COOKIE_KEY, DEFAULT_HTTP_PORT: '0', ADDITIONAL_HTTP_PORTS: '81' }, 1).httpPorts,
    ).toEqual([]);
    expect(loadConfig([], { COOKIE_KEY, DEFAULT_HTTP_PORT: '8081' }, 1).httpPorts).toEqual([8081]);
    expect(() => loadConfig([], { COOKIE_KEY, DEFAULT_HTTPS_PORT: '0' }, 1)).toThrow(ConfigError);
    expect(() => loadConfig([], { COOKIE_KEY, ADDITIONAL_HTTP_PORTS: '80,x' }, 1)).toThrow(/invalid port/);
  });

  it('needs COOKIE_KEY to be the base64 of exactly 32 bytes', () => {
    expect(() => loadConfig([], {}, 1)).toThrow(/COOKIE_KEY is required/);
    expect(() => checkCookieKey(randomBytes(16).toString('base64'))).toThrow(/exactly 32 bytes \(got 16/);
    expect(() => checkCookieKey('not base64!')).toThrow(ConfigError);
    expect(checkCookieKey(COOKIE_KEY)).toBe(COOKIE_KEY);
  });

  it('takes the default certificate from TLSCERT/TLSKEY, both or neither', () => {
    expect(loadConfig([], { COOKIE_KEY, TLSCERT: 'c', TLSKEY: 'k' }, 1).defaultCert).toEqual({
      certPem: 'c',
      keyPem: 'k',
    });
    expect(() => loadConfig([], { COOKIE_KEY, TLSCERT: 'c' }, 1)).toThrow(/go together/);
    expect(loadConfig([], { COOKIE_KEY }, 1).defaultCert).toBeUndefined();
  });

  it('refuses an inverted TCP range', () => {
    expect(() =>
      loadConfig(['-tcp-range-start', '4000', '-tcp-range-end', '3000'], { COOKIE_KEY }, 1),
    ).toThrow(/invalid TCP range/);
  });
});
