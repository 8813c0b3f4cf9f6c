import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned, generateSelfSignedAsync, validateKeyPair } from '../src/index.js';
import { close, handshake, listen } from './helpers.js';

describe('generateSelfSigned', () => {
  for (const keyType of ['ec', 'rsa'] as const) {
    it(`produces a certificate X509Certificate accepts (${keyType})`, () => {
      const t0 = performance.now();
      const { certPem, keyPem } = generateSelfSigned({
        names: ['example.com', '*.example.com', '127.0.0.1', '::1'],
        days: 30,
        keyType,
      });
      const ms = performance.now() - t0;
      console.log(`generateSelfSigned(${keyType}) took ${ms.toFixed(2)} ms`);
      const cert = new X509Certificate(certPem);
      expect(cert.subject).toBe('CN=example.com');
      expect(cert.issuer).toBe('CN=example.com');
      expect(cert.subjectAltName).toBe(
        'DNS:example.com, DNS:*.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
      );
      expect(cert.ca).toBe(false);
      expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
      expect(cert.verify(cert.publicKey)).toBe(true);
      expect(cert.checkHost('www.example.com')).toBe('*.example.com');
      expect(cert.checkHost('example.com')).toBe('example.com');
      expect(cert.checkHost('a.b.example.com')).toBeUndefined();
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
      expect(Math.round(days)).toBe(30);
      expect(createPrivateKey(keyPem).asymmetricKeyType).toBe(keyType);
    });
  }

  it('encodes IPv6 addresses, including an embedded IPv4 tail', () => {
    const { certPem } = generateSelfSigned({
      names: ['v6.example', '2001:db8::1', '::ffff:10.0.0.1', 'fe80::1:2:3'],
    });
    expect(new X509Certificate(certPem).subjectAltName).toBe(
      'DNS:v6.example, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:A00:1, IP Address:FE80:0:0:0:0:1:2:3',
    );
  });

  it('uses GeneralizedTime past 2049', () => {
    const { certPem } = generateSelfSigned({
      names: ['far.example'],
      notBefore: new Date('2049-12-01T00:00:00Z'),
      days: 60,
    });
    const cert = new X509Certificate(certPem);
    expect(new Date(cert.validTo).getUTCFullYear()).toBe(2050);
  });

  it('has an async variant', async () => {
    const { certPem, keyPem } = await generateSelfSignedAsync({ names: ['async.example'] });
    expect(validateKeyPair(certPem, keyPem).ok).toBe(true);
  });

  it('rejects bad options', () => {
    expect(() => generateSelfSigned({ names: [] })).toThrow(/names/);
    expect(() => generateSelfSigned({ names: ['a b'] })).toThrow(/invalid name/);
    expect(() => generateSelfSigned({ names: ['x.example'], days: 0 })).toThrow(/days/);
  });

  it('serials are unique', () => {
    const a = new X509Certificate(generateSelfSigned({ names: ['a.example'] }).certPem);
    const b = new X509Certificate(generateSelfSigned({ names: ['a.example'] }).certPem);
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  it('serves a real TLS handshake, and a client trusting it verifies it', async () => {
    const pair = generateSelfSigned({ names: ['localhost', '127.0.0.1'] });
    const { server, port } = await listen({ cert: pair.certPem, key: pair.keyPem });
    try {
      const r = await handshake(port, { servername: 'localhost' });
      expect(r.ok).toBe(true);
      expect(r.fingerprint).toBe(new X509Certificate(pair.certPem).fingerprint256);
      const verified = await handshake(port, {
        servername: 'localhost',
        ca: pair.certPem,
        rejectUnauthorized: true,
      });
      expect(verified).toMatchObject({ ok: true });
      const wrongName = await handshake(port, {
        servername: 'other.example',
        ca: pair.certPem,
        rejectUnauthorized: true,
      });
      expect(wrongName.ok).toBe(false);
    } finally {
      await close(server);
    }
  });

  it('median timing (EC) is reported', () => {
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      generateSelfSigned({ names: ['t.example'] });
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(`generateSelfSigned(ec) median ${times[25].toFixed(3)} ms over 50`);
    expect(times[25]).toBeLessThan(50);
  });
});
