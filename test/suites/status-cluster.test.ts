import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextPortBlock } from '@flynn-edge/process-kit';
import { StatusProcess } from '@flynn-edge/status-app/testing';
import { chromiumLaunchOptions, requireCommand, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STATUS_CLUSTER_IPS, STATUS_DOMAIN, StatusCluster } from '../src/status-cluster.js';

// A real cluster on 127.0.0.71–75: discoverd, a router (PROXY protocol on, host name host1), a
// logaggregator, a flynn-host daemon (host1) and the status process, routed at
// status.localflynn.test. Healthy first; then a forged X-Forwarded-For through the router with a
// public PROXY source; the page in headless Chromium; then components are killed one by one and
// the status (and the page's row) turns unhealthy within the check timeout.

const BASE = nextPortBlock(20);
const KEY = 'status-test-key';
const DOMAIN = STATUS_DOMAIN;
const { router: ROUTER_IP } = STATUS_CLUSTER_IPS;

const dir = mkdtempSync(join(tmpdir(), 'status-e2e-'));
const cluster = new StatusCluster({ base: BASE, dir, authKey: KEY, routerWorkers: 0 });
const { router, aggregator, host, status, discoverdAddrs: DISCOVERD } = cluster;

type Envelope = { data: { status: string; detail: Record<string, { status: string; reason?: string }> } };

async function getStatus(query = ''): Promise<{ code: number; body: Envelope }> {
  const r = await fetch(`${status.url}/${query}`, { signal: AbortSignal.timeout(5000) });
  return { code: r.status, body: (await r.json()) as Envelope };
}

/** One raw request through the router with a PROXY v1 line naming `source` as the client. */
function throughRouter(
  source: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ code: number; head: string; body: string }> {
  const lines = [
    `PROXY TCP4 ${source} ${ROUTER_IP} 40000 ${cluster.httpPort}`,
    `GET ${target} HTTP/1.1`,
    `Host: ${DOMAIN}`,
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ];
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ROUTER_IP, port: cluster.httpPort });
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (buf += d));
    sock.on('error', reject);
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('close', () => {
      const i = buf.indexOf('\r\n\r\n');
      const head = buf.slice(0, i);
      resolve({ code: Number(head.split(' ')[1]), head, body: buf.slice(i + 4) });
    });
    sock.write(lines.join('\r\n'));
  });
}

const chromium = requireCommand('chromium', 'chromium');

beforeAll(() => cluster.start(), 60_000);

afterAll(() => cluster.close());

describe('status against a real cluster', { timeout: 60_000 }, () => {
  it('is healthy with every component up (200, four healthy checks)', async () => {
    const { code, body } = await waitFor(
      async () => {
        const s = await getStatus();
        return s.code === 200 ? s : undefined;
      },
      { timeoutMs: 20_000, what: 'a healthy cluster status' },
    );
    expect(code).toBe(200);
    expect(Object.keys(body.data.detail)).toEqual(['discoverd', 'flynn-host', 'logaggregator', 'router']);
    for (const c of Object.values(body.data.detail)) expect(c.status).toBe('healthy');
  });

  it('through the router: a public PROXY source with a forged X-Forwarded-For gets 401 without the key, 200 with it', async () => {
    await waitFor(async () => (await throughRouter('10.9.9.9', '/')).code === 200, {
      timeoutMs: 10_000,
      what: 'status-web routed',
    });
    const forged = await throughRouter('198.18.0.7', '/', { 'X-Forwarded-For': '127.0.0.1' });
    expect(forged.code).toBe(401);
    expect(forged.body).toBe('');
    const withKey = await throughRouter('198.18.0.7', `/?key=${KEY}`, { 'X-Forwarded-For': '127.0.0.1' });
    expect(withKey.code).toBe(200);
    expect(JSON.parse(withKey.body).data.status).toBe('healthy');
    const basic = Buffer.from(`x:${KEY}`).toString('base64');
    expect((await throughRouter('203.0.114.1', '/', { Authorization: `Basic ${basic}` })).code).toBe(200);
  });

  it('host scope through the router names the receiving host (Flynn-Router-Host, a forged one is overwritten)', async () => {
    const r = await throughRouter('10.9.9.9', '/?scope=host', { 'Flynn-Router-Host': 'host-nonexistent' });
    expect(r.code).toBe(200);
    const body = JSON.parse(r.body) as Envelope;
    expect(Object.keys(body.data.detail)).toEqual(['discoverd', 'router']);
    expect(body.data.detail.router).toMatchObject({ status: 'healthy', detail: { host: 'host1' } });
  });

  it('serves /metrics with the component gauges, and /livez', async () => {
    const text = await (await fetch(`${status.url}/metrics`)).text();
    expect(text).toMatch(/flynn_status_component_up\{component="router"\} 1/);
    expect(text).toMatch(/flynn_status_check_duration_seconds_count\{component="logaggregator"\} \d+/);
    expect(text).toMatch(/flynn_status_requests_total\{scope="cluster",code="200"\} \d+/);
    expect((await fetch(`${status.url}/livez`)).status).toBe(200);
  });

  it.skipIf(!chromium.available)(
    'renders the page in Chromium; a killed component’s row turns red',
    async () => {
      const { chromium: pw } = await import('playwright-core');
      const browser = await pw.launch(chromiumLaunchOptions());
      try {
        const page = await browser.newPage();
        await page.goto(`${status.url}/`);
        const rows = page.locator('tbody#rows tr');
        expect(await rows.count()).toBe(4);
        expect(await page.locator('tr[data-status="healthy"]').count()).toBe(4);
        await page.screenshot({ path: join(dir, 'status-healthy.png'), fullPage: true });
        await aggregator.kill('SIGKILL');
        const row = page.locator('tr[data-component="logaggregator"]');
        await waitFor(async () => (await row.getAttribute('data-status')) === 'unhealthy', {
          timeoutMs: 8000,
          what: 'the logaggregator row turning unhealthy',
        });
        const bg = await row
          .locator('td')
          .first()
          .evaluate((td) => getComputedStyle(td).backgroundColor);
        expect(bg).toBe('rgb(217, 48, 44)');
        expect(await page.locator('#overall').textContent()).toBe('unhealthy');
        await page.screenshot({ path: join(dir, 'status-unhealthy.png'), fullPage: true });
        writeFileSync(
          join(dir, 'screenshots.txt'),
          `${join(dir, 'status-healthy.png')}\n${join(dir, 'status-unhealthy.png')}\n`,
        );
      } finally {
        await browser.close();
      }
    },
  );

  it('a killed logaggregator makes the status 500 within the check timeout', async () => {
    await aggregator.kill('SIGKILL');
    const started = Date.now();
    const s = await waitFor(
      async () => {
        const r = await getStatus();
        return r.code === 500 ? r : undefined;
      },
      { timeoutMs: 4000, what: 'status 500' },
    );
    expect(Date.now() - started).toBeLessThan(4000);
    expect(s.body.data.detail.logaggregator!.status).toBe('unhealthy');
    expect(s.body.data.detail.router!.status).toBe('healthy');
  });

  it('with the logaggregator optional, a second status process answers 200', async () => {
    const lenient = new StatusProcess({
      ip: '127.0.0.76',
      port: BASE + 17,
      discoverd: DISCOVERD,
      args: ['-optional', 'logaggregator', '-register=false'],
    });
    lenient.start();
    try {
      await lenient.ready();
      const r = await fetch(`${lenient.url}/`);
      const body = (await r.json()) as Envelope;
      expect(body.data.detail.logaggregator).toMatchObject({ status: 'unhealthy', optional: true });
      expect(r.status).toBe(200);
    } finally {
      await lenient.close();
    }
  });

  it('a killed flynn-host daemon and router turn their checks unhealthy; the host scope follows its router', async () => {
    await host.kill('SIGKILL');
    await router.close();
    const s = await waitFor(
      async () => {
        const r = await getStatus();
        const d = r.body.data.detail;
        return d['flynn-host']!.status === 'unhealthy' && d.router!.status === 'unhealthy' ? r : undefined;
      },
      { timeoutMs: 4000, what: 'flynn-host and router unhealthy' },
    );
    expect(s.code).toBe(500);
    const h = await getStatus('?scope=host');
    expect(h.code).toBe(500);
    expect(h.body.data.detail.router!.status).toBe('unhealthy');
    expect(h.body.data.detail.discoverd!.status).toBe('healthy');
  });
});
