import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetNamespace, netnsAvailable, waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatusProcess } from '../src/process.js';

// A client that really is public, talking to the status service directly (no router): it sits in
// a network namespace with 198.18.7.2 (the benchmarking range, not trusted) and connects to the
// status on 198.18.7.1. Whatever X-Forwarded-For it sends, its TCP peer address decides: the key
// is required. (Through the router, the same rule is tested with PROXY protocol in cluster.test.ts.)

const netns = netnsAvailable();
const KEY = 'public-client-test-key';
const PORT = 24_990;
const dir = mkdtempSync(join(tmpdir(), 'status-public-'));
const ns = new NetNamespace({ name: 'stpub', hostIp: '198.18.7.1', nsIp: '198.18.7.2' });
const status = new StatusProcess({
  ip: '198.18.7.1',
  port: PORT,
  // Nothing answers there: the checks fail, which does not matter for who may ask.
  discoverd: '127.0.0.79:1',
  authKey: KEY,
  args: ['-register=false'],
  logFile: join(dir, 'status.log'),
});

/** GET from inside the namespace; answers the status code. */
function getFromPublic(path: string, headers: Record<string, string> = {}): number {
  const script = `fetch(${JSON.stringify(`http://198.18.7.1:${PORT}${path}`)}, { headers: ${JSON.stringify(headers)} }).then((r) => { process.stdout.write(String(r.status)); }, (e) => { console.error(e); process.exit(1); })`;
  const r = ns.exec(process.execPath, ['-e', script]);
  if (r.code !== 0) throw new Error(`client in the namespace failed: ${r.stderr}`);
  return Number(r.stdout);
}

describe.skipIf(!netns.available)('a public client straight to the status service', () => {
  beforeAll(async () => {
    ns.create();
    status.start();
    // From this side the address is ours, so no key is needed to see it serving.
    await waitFor(async () => (await fetch(`${status.url}/livez`).catch(() => undefined))?.status === 200, {
      timeoutMs: 15_000,
      what: 'the status service on 198.18.7.1',
    });
  }, 30_000);

  afterAll(async () => {
    await status.close();
    ns.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('needs the key whatever X-Forwarded-For says; with it, it gets the status', () => {
    expect(getFromPublic('/')).toBe(401);
    expect(getFromPublic('/', { 'x-forwarded-for': '127.0.0.1' })).toBe(401);
    expect(getFromPublic('/', { 'x-forwarded-for': '10.0.0.1, 192.168.1.1' })).toBe(401);
    expect(getFromPublic('/?scope=host', { 'x-forwarded-for': '10.0.0.1' })).toBe(401);
    // With the key: the answer is the cluster's health (500 here: nothing to check is running).
    expect(getFromPublic(`/?key=${KEY}`)).toBe(500);
    const basic = `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}`;
    expect(getFromPublic('/', { authorization: basic, 'x-forwarded-for': '127.0.0.1' })).toBe(500);
    expect(getFromPublic('/?key=wrong')).toBe(401);
  });
});
