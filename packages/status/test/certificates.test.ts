import { afterEach, describe, expect, it } from 'vitest';
import { CertificateWatch, certificateNotes } from '../src/checks/certificates.js';
import { routerCheck } from '../src/checks/router.js';
import { overallHealthy } from '../src/envelope.js';
import { runChecks } from '../src/runner.js';
import { type FakeServer, fakeDiscovery, fakeServer, inst, json } from './helpers.js';

// Managed certificates in the router component's detail: a note, never a reason.

const NOW = Date.parse('2030-01-10T00:00:00Z');
const DAY = 86_400_000;

function route(id: string, managed?: Record<string, unknown>, type = 'http'): string {
  return JSON.stringify({ type, id, domain: `${id}.test`, managed_certificate: managed });
}

const valuesAt = (NOW: number) => [
  route('plain'),
  route('pending', { domain: 'pending.test', status: 'pending' }),
  route('failed', { domain: 'failed.test', status: 'failed', last_error: 'NXDOMAIN' }),
  route('later', {
    domain: 'later.test',
    status: 'issued',
    expires_at: new Date(NOW + 30 * DAY).toISOString(),
  }),
  route('soon', { domain: 'soon.test', status: 'issued', expires_at: new Date(NOW + 3 * DAY).toISOString() }),
  route('tcp', { domain: 'x', status: 'failed' }, 'tcp'),
  'not json',
];
const values = valuesAt(NOW);

describe('certificate notes', () => {
  it('notes failed and soon-expiring certificates only', () => {
    expect(certificateNotes(values, NOW)).toEqual([
      { domain: 'failed.test', route: 'http/failed', status: 'failed', last_error: 'NXDOMAIN' },
      {
        domain: 'soon.test',
        route: 'http/soon',
        status: 'issued',
        expires_at: new Date(NOW + 3 * DAY).toISOString(),
      },
    ]);
  });

  it('reads the store at most once per refresh interval and keeps the notes when a read fails', async () => {
    let reads = 0;
    let fail = false;
    let now = NOW;
    const watch = new CertificateWatch({
      list: async () => {
        reads++;
        if (fail) throw new Error('401');
        return values;
      },
      refreshMs: 1000,
      now: () => now,
    });
    expect(await watch.current()).toHaveLength(2);
    await watch.current();
    expect(reads).toBe(1);
    fail = true;
    now += 1000;
    expect(await watch.current()).toHaveLength(2);
    expect(reads).toBe(2);
  });

  it('waits for a hung store only briefly, the first time', async () => {
    const watch = new CertificateWatch({ list: () => new Promise(() => {}) });
    const t = Date.now();
    expect(await watch.current(50)).toEqual([]);
    expect(await watch.current(5000)).toEqual([]);
    expect(Date.now() - t).toBeLessThan(1000);
  });
});

describe('router check with managed certificates', () => {
  let server: FakeServer | undefined;
  afterEach(async () => server?.close());

  it('puts them in the detail and stays healthy, and so does the cluster', async () => {
    server = await fakeServer(
      json({ healthy: true, workers: [{ pid: 1, synced: true, watchAliveAt: 1 }], now: 1 }),
    );
    const discovery = {
      ...fakeDiscovery({ 'router-api': [inst(server.addr)] }),
      kvValues: async (prefix: string) => (prefix === 'routes/http/' ? valuesAt(Date.now()) : []),
    };
    const r = await runChecks([routerCheck({ discovery })]);
    expect(r.detail.router).toMatchObject({
      status: 'healthy',
      detail: { instances: 1, certificates: [{ status: 'failed' }, { domain: 'soon.test' }] },
    });
    expect(overallHealthy(r.detail)).toBe(true);
    expect(r.healthy).toBe(true);
    // Without store access the detail is as before.
    const plain = await runChecks([
      routerCheck({ discovery: fakeDiscovery({ 'router-api': [inst(server.addr)] }) }),
    ]);
    expect(plain.detail.router?.detail).toEqual({ instances: 1 });
  });
});
