import { X509Certificate } from 'node:crypto';
import type * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateMaterial,
  generateSelfSigned,
  type PemPair,
  SniContextCache,
  type SniLookupResult,
} from '../src/index.js';
import { close, handshake, listen } from './helpers.js';

const fp = (p: PemPair) => new X509Certificate(p.certPem).fingerprint256;

describe('SniContextCache with a real tls server on 127.0.0.1', () => {
  const defaultPair = generateSelfSigned({ names: ['default.invalid'] });
  const aPair = generateSelfSigned({ names: ['a.example'] });
  const wildPair = generateSelfSigned({ names: ['*.wild.example'] });
  const strayPair = generateSelfSigned({ names: ['broken.example'] });
  const sharedPair = generateSelfSigned({ names: ['x1.example', 'x2.example'] });
  const routes = new Map<string, SniLookupResult>([
    ['a.example', aPair],
    ['one.wild.example', wildPair],
    ['two.wild.example', wildPair],
    ['x1.example', sharedPair],
    ['x2.example', sharedPair],
    ['nocert.example', 'default'],
    ['broken.example', { certPem: strayPair.certPem, keyPem: aPair.keyPem }],
    ['garbage.example', { certPem: 'garbage', keyPem: 'garbage' }],
  ]);
  let cache: SniContextCache;
  let server: tls.Server;
  let port: number;

  beforeAll(async () => {
    cache = new SniContextCache({
      defaultContext: defaultPair,
      lookup: (name) => {
        if (name === 'throws.example') throw new Error('lookup exploded');
        return routes.get(name);
      },
    });
    ({ server, port } = await listen(cache.serverOptions()));
  });
  afterAll(async () => {
    await close(server);
  });

  it('SNI picks the right certificate', async () => {
    expect(await handshake(port, { servername: 'a.example' })).toMatchObject({
      ok: true,
      fingerprint: fp(aPair),
    });
    expect(await handshake(port, { servername: 'ONE.wild.example' })).toMatchObject({
      ok: true,
      fingerprint: fp(wildPair),
    });
  });

  it('no SNI gets the default certificate', async () => {
    const r = await handshake(port, {}); // connecting to an IP sends no SNI
    expect(r).toMatchObject({ ok: true, fingerprint: fp(defaultPair) });
  });

  it('a route without a certificate gets the default certificate', async () => {
    expect(await handshake(port, { servername: 'nocert.example' })).toMatchObject({
      ok: true,
      fingerprint: fp(defaultPair),
    });
    expect(cache.stats().defaults).toBeGreaterThan(0);
  });

  it('unknown SNI fails the handshake', async () => {
    const before = cache.stats().unknown;
    const r = await handshake(port, { servername: 'nobody.example' });
    expect(r.ok).toBe(false);
    expect(cache.stats().unknown).toBe(before + 1);
    // A name one label deeper than a wildcard route is unknown too.
    expect((await handshake(port, { servername: 'deep.one.wild.example' })).ok).toBe(false);
  });

  it('hostnames sharing a certificate share one context', async () => {
    const s0 = cache.stats();
    await handshake(port, { servername: 'x1.example' });
    await handshake(port, { servername: 'x2.example' });
    await handshake(port, { servername: 'two.wild.example' });
    const s1 = cache.stats();
    expect(s1.misses - s0.misses).toBe(1); // x1 built; x2 and two.wild hit
    expect(s1.hits - s0.hits).toBe(2);
  });

  it('bad material or a throwing lookup fails only that handshake', async () => {
    const before = cache.stats().failures;
    expect((await handshake(port, { servername: 'broken.example' })).ok).toBe(false);
    expect((await handshake(port, { servername: 'garbage.example' })).ok).toBe(false);
    expect((await handshake(port, { servername: 'throws.example' })).ok).toBe(false);
    expect(cache.stats().failures).toBe(before + 3);
    expect(server.listening).toBe(true);
    expect(await handshake(port, { servername: 'a.example' })).toMatchObject({ ok: true });
  });

  it('negotiates ALPN h2, falling back to http/1.1', async () => {
    expect(
      await handshake(port, { servername: 'a.example', ALPNProtocols: ['h2', 'http/1.1'] }),
    ).toMatchObject({
      ok: true,
      alpn: 'h2',
    });
    expect(await handshake(port, { ALPNProtocols: ['http/1.1'] })).toMatchObject({
      ok: true,
      alpn: 'http/1.1',
    });
  });

  it('TLS 1.3 and 1.2 are accepted, TLS 1.1 refused by default', async () => {
    expect(await handshake(port, { servername: 'a.example' })).toMatchObject({
      ok: true,
      protocol: 'TLSv1.3',
    });
    expect(await handshake(port, { servername: 'a.example', maxVersion: 'TLSv1.2' })).toMatchObject({
      ok: true,
      protocol: 'TLSv1.2',
    });
    const old = await handshake(port, {
      servername: 'a.example',
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT:@SECLEVEL=0',
    });
    expect(old.ok).toBe(false);
  });

  it('invalidate() lets a hot update serve a new certificate', async () => {
    const fresh = generateSelfSigned({ names: ['a.example'] });
    // Same fingerprint key (caller-supplied), new material: cached context is served until invalidated.
    const key = 'route:a.example';
    routes.set('a.example', { ...aPair, fingerprint: key });
    await handshake(port, { servername: 'a.example' });
    routes.set('a.example', { ...fresh, fingerprint: key });
    expect(await handshake(port, { servername: 'a.example' })).toMatchObject({ fingerprint: fp(aPair) });
    expect(cache.invalidate(key)).toBe(true);
    expect(cache.invalidate(key)).toBe(false);
    expect(await handshake(port, { servername: 'a.example' })).toMatchObject({ fingerprint: fp(fresh) });
    routes.set('a.example', aPair);
  });
});

describe('SniContextCache LRU bound', () => {
  it('50 certificates with maxContexts 10: size never exceeds 10, evictions counted', async () => {
    const pairs = new Map<string, CertificateMaterial>();
    for (let i = 0; i < 50; i++) pairs.set(`h${i}.example`, generateSelfSigned({ names: [`h${i}.example`] }));
    const defaultPair = generateSelfSigned({ names: ['default.invalid'] });
    const cache = new SniContextCache({
      maxContexts: 10,
      defaultContext: defaultPair,
      lookup: (n) => pairs.get(n),
    });
    const { server, port } = await listen(cache.serverOptions());
    try {
      for (let i = 0; i < 50; i++) {
        const r = await handshake(port, { servername: `h${i}.example` });
        expect(r).toMatchObject({ ok: true, fingerprint: fp(pairs.get(`h${i}.example`) as PemPair) });
        expect(cache.stats().size).toBeLessThanOrEqual(10);
      }
      expect(cache.stats()).toMatchObject({ size: 10, misses: 50, hits: 0, evictions: 40 });
      // The 10 most recent are cached; touching h40 makes it most recent, so h41 is evicted next.
      await handshake(port, { servername: 'h40.example' });
      expect(cache.stats().hits).toBe(1);
      await handshake(port, { servername: 'h0.example' });
      await handshake(port, { servername: 'h40.example' });
      await handshake(port, { servername: 'h41.example' });
      expect(cache.stats()).toMatchObject({ size: 10, hits: 2, misses: 52, evictions: 42 });
    } finally {
      await close(server);
    }
  });

  it('measures context build time', () => {
    const pairs = Array.from({ length: 200 }, (_, i) => generateSelfSigned({ names: [`m${i}.example`] }));
    const rsaPairs = Array.from({ length: 5 }, (_, i) =>
      generateSelfSigned({ names: [`r${i}.example`], keyType: 'rsa' }),
    );
    const byName = new Map<string, CertificateMaterial>();
    for (const [i, p] of pairs.entries()) byName.set(`m${i}.example`, p);
    for (const [i, p] of rsaPairs.entries()) byName.set(`r${i}.example`, p);
    const cache = new SniContextCache({ maxContexts: 1000, lookup: (n) => byName.get(n) });
    let t = performance.now();
    for (let i = 0; i < 200; i++) cache.contextFor(`m${i}.example`);
    const ecMs = (performance.now() - t) / 200;
    t = performance.now();
    for (let i = 0; i < 5; i++) cache.contextFor(`r${i}.example`);
    const rsaMs = (performance.now() - t) / 5;
    t = performance.now();
    for (let i = 0; i < 200; i++) cache.contextFor(`m${i}.example`);
    const hitMs = (performance.now() - t) / 200;
    console.log(
      `context build (miss, incl. fingerprint): EC ${ecMs.toFixed(3)} ms, RSA ${rsaMs.toFixed(3)} ms; hit ${(hitMs * 1000).toFixed(1)} µs`,
    );
    expect(cache.stats()).toMatchObject({ size: 205, misses: 205, hits: 200 });
  });
});

describe('SniContextCache construction', () => {
  it('rejects bad options and a bad default certificate up front', () => {
    expect(() => new SniContextCache({ maxContexts: 0, lookup: () => undefined })).toThrow(/maxContexts/);
    const p = generateSelfSigned({ names: ['x.example'] });
    expect(
      () =>
        new SniContextCache({ lookup: () => undefined, defaultContext: { certPem: p.certPem, keyPem: 'x' } }),
    ).toThrow();
  });
  it('LEGACY_TLS: minVersion TLSv1 is passed through and TLS 1.1 then works', async () => {
    const p = generateSelfSigned({ names: ['legacy.example'] });
    const c = new SniContextCache({
      lookup: (n) => (n === 'legacy.example' ? p : undefined),
      defaultContext: p,
      minVersion: 'TLSv1',
      contextOptions: { ciphers: 'DEFAULT:@SECLEVEL=0' },
    });
    expect(c.serverOptions()).toMatchObject({ minVersion: 'TLSv1', ALPNProtocols: ['h2', 'http/1.1'] });
    const { server, port } = await listen(c.serverOptions());
    try {
      const old = await handshake(port, {
        servername: 'legacy.example',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      });
      expect(old).toMatchObject({ ok: true, protocol: 'TLSv1.1' });
    } finally {
      await close(server);
    }
  });
});
