import { describe, expect, it } from 'vitest';
import { generateSelfSigned, resolveDefaultCertificate } from '../src/index.js';

describe('resolveDefaultCertificate', () => {
  it('generates and says so when nothing is configured', () => {
    const logs: string[] = [];
    const d = resolveDefaultCertificate(undefined, { log: (m) => logs.push(m), names: ['router.invalid'] });
    expect(d.generated).toBe(true);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/generated a self-signed certificate for router\.invalid/);
    expect(resolveDefaultCertificate({ certPem: '', keyPem: '' }, { log: () => {} }).generated).toBe(true);
  });
  it('uses a configured pair silently', () => {
    const p = generateSelfSigned({ names: ['configured.example'] });
    const logs: string[] = [];
    const d = resolveDefaultCertificate(p, { log: (m) => logs.push(m) });
    expect(d).toMatchObject({ generated: false, certPem: p.certPem });
    expect(logs).toEqual([]);
  });
  it('throws a clear error for a bad configured pair', () => {
    const p = generateSelfSigned({ names: ['configured.example'] });
    const q = generateSelfSigned({ names: ['other.example'] });
    expect(() => resolveDefaultCertificate({ certPem: p.certPem, keyPem: q.keyPem })).toThrow(
      'default TLS certificate is invalid: private key does not match the certificate',
    );
    expect(() => resolveDefaultCertificate({ certPem: p.certPem })).toThrow(/both/);
  });
});
