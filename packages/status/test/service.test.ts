import { describe, expect, it } from 'vitest';
import type { CheckOutcome } from '../src/envelope.js';
import type { Check } from '../src/runner.js';
import { type StatusRequest, StatusService } from '../src/service.js';

const KEY = 'k3y';
const check = (name: string, outcome: () => CheckOutcome, optional = false): Check => ({
  name,
  optional,
  run: async () => outcome(),
});

function service(opts: { healthy?: () => boolean; optional?: boolean; hostId?: string } = {}) {
  const hostsAsked: string[] = [];
  let routerUp = true;
  const svc = new StatusService({
    checks: [
      check('router', () => ({ healthy: routerUp })),
      check(
        'logaggregator',
        () => ({ healthy: opts.healthy?.() ?? true, reason: 'canary lost' }),
        opts.optional,
      ),
    ],
    hostChecks: (host) => {
      hostsAsked.push(host);
      return [check('router', () => ({ healthy: host === 'h1', reason: `not h1: ${host}` }))];
    },
    hostId: opts.hostId,
    authKey: KEY,
    version: 'v9',
    ttlMs: 0,
  });
  return { svc, hostsAsked, setRouter: (up: boolean) => (routerUp = up) };
}

const req = (over: Partial<StatusRequest> = {}): StatusRequest => ({
  method: 'GET',
  url: '/',
  headers: {},
  peer: '127.0.0.1',
  ...over,
});

describe('StatusService', () => {
  it('answers 200 with the envelope when every required component is healthy, 500 otherwise', async () => {
    const s = service();
    const ok = await s.svc.handle(req());
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/json');
    expect(ok.body.startsWith('{\n  "data": {\n    "status": "healthy",')).toBe(true);
    expect(ok.body.endsWith('"version": "v9"\n  }\n}\n')).toBe(true);
    s.setRouter(false);
    const bad = await s.svc.handle(req());
    expect(bad.status).toBe(500);
    expect(JSON.parse(bad.body).data.detail.router.status).toBe('unhealthy');
  });

  it('an unhealthy optional component keeps 200', async () => {
    const s = service({ healthy: () => false, optional: true });
    const r = await s.svc.handle(req());
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).data.detail.logaggregator).toMatchObject({
      status: 'unhealthy',
      optional: true,
    });
    const required = service({ healthy: () => false });
    expect((await required.svc.handle(req())).status).toBe(500);
  });

  it('401 with an empty body for a public client without the key; the key in the query or basic auth works', async () => {
    const { svc } = service();
    const denied = await svc.handle(req({ peer: '8.8.8.8', headers: { 'x-forwarded-for': '127.0.0.1' } }));
    expect(denied).toMatchObject({ status: 401, body: '' });
    expect(denied.headers['www-authenticate']).toBeUndefined();
    expect((await svc.handle(req({ peer: '8.8.8.8', url: `/?key=${KEY}` }))).status).toBe(200);
    const basic = `Basic ${Buffer.from(`:${KEY}`).toString('base64')}`;
    expect((await svc.handle(req({ peer: '8.8.8.8', headers: { authorization: basic } }))).status).toBe(200);
    // Through a router: the last X-Forwarded-For entry is the client.
    const viaRouter = req({ peer: '127.0.0.1', headers: { 'x-forwarded-for': '10.0.0.1, 198.18.0.9' } });
    expect((await svc.handle(viaRouter)).status).toBe(401);
  });

  it('answers a CORS preflight 200 before the key check, and adds CORS headers (no credentials) to answers', async () => {
    const { svc } = service();
    const pre = await svc.handle(
      req({ method: 'OPTIONS', peer: '8.8.8.8', headers: { origin: 'https://x.test' } }),
    );
    expect(pre.status).toBe(200);
    expect(pre.body).toBe('');
    expect(pre.headers['access-control-allow-origin']).toBe('https://x.test');
    const denied = await svc.handle(req({ peer: '8.8.8.8', headers: { origin: 'https://x.test' } }));
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe('https://x.test');
    const ok = await svc.handle(req({ headers: { origin: 'https://x.test' } }));
    expect(ok.headers['access-control-allow-credentials']).toBeUndefined();
    // OPTIONS without Origin is an ordinary request (key check, then the status).
    expect((await svc.handle(req({ method: 'OPTIONS', peer: '8.8.8.8' }))).status).toBe(401);
  });

  it('host scope: the router names the host only from a private peer, else HOST_ID', async () => {
    const s = service({ hostId: 'h1' });
    const named = await s.svc.handle(req({ url: '/?scope=host', headers: { 'flynn-router-host': 'h2' } }));
    expect(named.status).toBe(500);
    expect(s.hostsAsked).toEqual(['h2']);
    // A public client naming a host directly: ignored, HOST_ID is used.
    const forged = await s.svc.handle(
      req({ peer: '8.8.8.8', url: `/?scope=host&key=${KEY}`, headers: { 'flynn-router-host': 'h2' } }),
    );
    expect(forged.status).toBe(200);
    expect(s.hostsAsked).toEqual(['h2', 'h1']);
    const own = await s.svc.handle(req({ url: '/?scope=host' }));
    expect(own.status).toBe(200);
    const nohost = service();
    const r = await nohost.svc.handle(req({ url: '/?scope=host' }));
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body).data.detail.host.reason).toMatch(/no receiving host/);
  });

  it('a bad scope is a 400 validation_error', async () => {
    const r = await service().svc.handle(req({ url: '/?scope=hosts' }));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 'validation_error' });
  });

  it('Accept: text/html gets the page, with a row per component and the unhealthy one marked', async () => {
    const s = service();
    s.setRouter(false);
    const r = await s.svc.handle(
      req({ headers: { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' } }),
    );
    expect(r.status).toBe(500);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toContain('<tr class="unhealthy" data-component="router" data-status="unhealthy">');
    expect(r.body).toContain('<tr class="healthy" data-component="logaggregator" data-status="healthy">');
    expect(r.body).not.toMatch(/<(link|img)|src=/);
  });

  it('coalesces: concurrent requests share one round', async () => {
    let rounds = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const svc = new StatusService({
      checks: [
        {
          name: 'slow',
          run: async () => {
            rounds++;
            await gate;
            return { healthy: true };
          },
        },
      ],
      hostChecks: () => [],
      ttlMs: 1000,
    });
    const answers = Array.from({ length: 50 }, () => svc.handle(req()));
    release();
    const all = await Promise.all(answers);
    expect(all.every((a) => a.status === 200)).toBe(true);
    expect(rounds).toBe(1);
    await svc.handle(req());
    expect(rounds).toBe(1);
  });
});
