import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned, validateKeyPair } from '../src/index.js';

const DAY = 86_400_000;

describe('validateKeyPair', () => {
  const good = generateSelfSigned({ names: ['example.com', '*.example.com'], days: 10 });

  it('accepts a good pair and reports names, validity and fingerprint', () => {
    const r = validateKeyPair(good.certPem, good.keyPem);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.info.names).toEqual(['example.com', '*.example.com']);
    expect(r.info.fingerprint).toBe(new X509Certificate(good.certPem).fingerprint256);
    expect(r.info.notAfter.getTime() - r.info.notBefore.getTime()).toBe(10 * DAY);
    expect(r.info.chainLength).toBe(1);
  });

  it('accepts an RSA pair', () => {
    const rsa = generateSelfSigned({ names: ['rsa.example'], keyType: 'rsa' });
    expect(validateKeyPair(rsa.certPem, rsa.keyPem).ok).toBe(true);
  });

  it('rejects a mismatched key', () => {
    const other = generateSelfSigned({ names: ['example.com'] });
    expect(validateKeyPair(good.certPem, other.keyPem)).toEqual({
      ok: false,
      error: 'private key does not match the certificate',
    });
    const rsa = generateSelfSigned({ names: ['rsa.example'], keyType: 'rsa' });
    expect(validateKeyPair(good.certPem, rsa.keyPem)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/match/),
    });
  });

  it('rejects an expired certificate, and one not yet valid', () => {
    const expired = generateSelfSigned({
      names: ['old.example'],
      notBefore: new Date(Date.now() - 40 * DAY),
      days: 30,
    });
    const r = validateKeyPair(expired.certPem, expired.keyPem);
    expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/^certificate expired on \d{4}-/) });
    const future = generateSelfSigned({
      names: ['new.example'],
      notBefore: new Date(Date.now() + 5 * DAY),
      days: 30,
    });
    expect(validateKeyPair(future.certPem, future.keyPem)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/not valid until/),
    });
    // The clock can be supplied.
    expect(
      validateKeyPair(expired.certPem, expired.keyPem, { now: new Date(Date.now() - 35 * DAY) }).ok,
    ).toBe(true);
  });

  it('rejects garbage with clear errors', () => {
    expect(validateKeyPair('', good.keyPem)).toEqual({ ok: false, error: 'certificate is empty' });
    expect(validateKeyPair(good.certPem, '')).toEqual({ ok: false, error: 'private key is empty' });
    expect(validateKeyPair('hello', good.keyPem)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/not PEM/),
    });
    const broken = good.certPem.replace(/\n[A-Za-z0-9+/]{10}/, '\nAAAAAAAAAA');
    expect(validateKeyPair(broken, good.keyPem)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^certificate 1 of 1 could not be parsed/),
    });
    expect(validateKeyPair(good.certPem, 'not a key')).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^private key could not be parsed/),
    });
    // Key and certificate swapped.
    expect(validateKeyPair(good.keyPem, good.certPem).ok).toBe(false);
    // Non-string input from JSON never throws.
    expect(validateKeyPair(undefined as unknown as string, null as unknown as string).ok).toBe(false);
  });

  it('rejects an encrypted key', () => {
    const enc = `-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n`;
    expect(validateKeyPair(good.certPem, enc)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/encrypted/),
    });
  });

  describe('chains', () => {
    const root = generateSelfSigned({ names: ['test-root-ca'], isCA: true, days: 100 });
    const inter = generateSelfSigned({ names: ['test-intermediate'], isCA: true, issuer: root, days: 50 });
    const leaf = generateSelfSigned({ names: ['chain.example'], issuer: inter, days: 20 });

    it('accepts a chain leaf first', () => {
      const r = validateKeyPair(leaf.certPem + inter.certPem + root.certPem, leaf.keyPem);
      expect(r).toMatchObject({ ok: true, info: { names: ['chain.example'], chainLength: 3 } });
      expect(validateKeyPair(leaf.certPem + inter.certPem, leaf.keyPem).ok).toBe(true);
      expect(new X509Certificate(inter.certPem).ca).toBe(true);
    });

    it('rejects a chain out of order or with a stranger', () => {
      expect(validateKeyPair(inter.certPem + leaf.certPem, leaf.keyPem)).toMatchObject({ ok: false });
      expect(validateKeyPair(leaf.certPem + root.certPem, leaf.keyPem)).toMatchObject({
        ok: false,
        error: expect.stringMatching(/leaf first/),
      });
    });
  });
});
