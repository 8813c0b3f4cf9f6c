import { createHash } from 'node:crypto';
import type { Instance } from '@flynn-edge/discoverd-state';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DiscoverdError } from '../src/errors.js';
import {
  buildInstance,
  expandAddr,
  fillMeta,
  Heartbeater,
  type HeartbeatTransport,
} from '../src/heartbeat.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('buildInstance', () => {
  const env = {
    EXTERNAL_IP: '10.1.2.3',
    FLYNN_APP_ID: 'app-id',
    FLYNN_APP_NAME: 'web',
    FLYNN_RELEASE_ID: 'rel',
    FLYNN_PROCESS_TYPE: 'worker',
    FLYNN_JOB_ID: 'host-job',
    UNRELATED: 'x',
  };

  it('fills proto, md5 id and the FLYNN_* meta from the env', () => {
    const inst = buildInstance('127.0.0.1:5000', { env });
    expect(inst).toEqual({
      id: md5('tcp-127.0.0.1:5000'),
      addr: '127.0.0.1:5000',
      proto: 'tcp',
      meta: {
        FLYNN_APP_ID: 'app-id',
        FLYNN_APP_NAME: 'web',
        FLYNN_RELEASE_ID: 'rel',
        FLYNN_PROCESS_TYPE: 'worker',
        FLYNN_JOB_ID: 'host-job',
      },
    });
  });

  it('prefixes ":port" with EXTERNAL_IP and uses the given proto in the id', () => {
    const inst = buildInstance(':8080', {
      proto: 'http',
      meta: { a: 'b' },
      env: { EXTERNAL_IP: '10.0.0.9' },
    });
    expect(inst).toEqual({
      id: md5('http-10.0.0.9:8080'),
      addr: '10.0.0.9:8080',
      proto: 'http',
      meta: { a: 'b' },
    });
    expect(() => expandAddr(':1', {})).toThrow(/EXTERNAL_IP/);
  });

  it('omits meta when there is none, and lets explicit meta win over the env', () => {
    expect(buildInstance('1.2.3.4:1', { env: {} })).toEqual({
      id: md5('tcp-1.2.3.4:1'),
      addr: '1.2.3.4:1',
      proto: 'tcp',
    });
    expect(fillMeta({ FLYNN_APP_NAME: 'mine' }, { FLYNN_APP_NAME: 'env', FLYNN_JOB_ID: '' })).toEqual({
      FLYNN_APP_NAME: 'mine',
    });
  });
});

/** A transport whose PUT outcome the test decides; records times of every call. */
function fakeTransport() {
  const calls: { kind: 'put' | 'delete'; at: number; inst?: Instance }[] = [];
  let failing = 0; // number of next PUTs to fail
  let failForever = false;
  const t: HeartbeatTransport & {
    calls: typeof calls;
    fail: (n: number) => void;
    failAll: (on: boolean) => void;
  } = {
    calls,
    fail: (n) => {
      failing = n;
    },
    failAll: (on) => {
      failForever = on;
    },
    put: async (_s, inst) => {
      calls.push({ kind: 'put', at: Date.now(), inst: structuredClone(inst) });
      if (failForever || failing > 0) {
        failing--;
        throw new DiscoverdError({ code: 'network_error', message: 'down', retry: true });
      }
    },
    remove: async () => {
      calls.push({ kind: 'delete', at: Date.now() });
    },
  };
  return t;
}

const inst: Instance = { id: md5('tcp-127.0.0.1:1'), addr: '127.0.0.1:1', proto: 'tcp' };

describe('Heartbeater timing (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-PUTs every 5 s minus up to 2 s of jitter', async () => {
    const t = fakeTransport();
    const randoms = [0, 0.5, 0.999, 0.25];
    let i = 0;
    const hb = await Heartbeater.start(t, 'svc', inst, {
      random: () => randoms[i++ % randoms.length]!,
      env: {},
    });
    expect(t.calls.map((c) => c.at - 1_000_000)).toEqual([0]);
    await vi.advanceTimersByTimeAsync(20_000);
    const gaps = t.calls.slice(1).map((c, k) => c.at - t.calls[k]!.at);
    // 5000 - r*2000 for r = 0, 0.5, 0.999, 0.25, 0, …
    expect(gaps.slice(0, 4)).toEqual([5000, 4000, 3002, 4500]);
    for (const g of gaps) expect(g >= 3000 && g <= 5000).toBe(true);
    await hb.close();
  });

  it('stays within 3–5 s with Math.random', async () => {
    const t = fakeTransport();
    const hb = await Heartbeater.start(t, 'svc', inst, { env: {} });
    await vi.advanceTimersByTimeAsync(120_000);
    const gaps = t.calls.slice(1).map((c, k) => c.at - t.calls[k]!.at);
    expect(gaps.length).toBeGreaterThanOrEqual(24);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(3000);
      expect(g).toBeLessThanOrEqual(5000);
    }
    await hb.close();
  });

  it('retries every 200–400 ms after a failure, then returns to the normal interval', async () => {
    const t = fakeTransport();
    const errors: Error[] = [];
    const hb = await Heartbeater.start(t, 'svc', inst, {
      random: () => 0.5,
      env: {},
      onError: (e) => errors.push(e),
    });
    t.fail(3);
    await vi.advanceTimersByTimeAsync(4000); // first heartbeat at +4000 fails
    expect(hb.failures).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    const gaps = t.calls.slice(1).map((c, k) => c.at - t.calls[k]!.at);
    // 4000 (fails), 300 (fails), 300 (fails), 300 (ok), then 4000 again
    expect(gaps.slice(0, 4)).toEqual([4000, 300, 300, 300]);
    expect(hb.failures).toBe(0);
    expect(errors).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(4000);
    expect(t.calls.at(-1)!.at - t.calls.at(-2)!.at).toBe(4000);
    await hb.close();
  });

  it('retries the first registration 200 ms apart for ≥5 attempts and 60 s, then rejects', async () => {
    const t = fakeTransport();
    t.failAll(true);
    const started = Heartbeater.start(t, 'svc', inst, { env: {} });
    const outcome = started.then(
      () => 'ok',
      (e: Error) => e.message,
    );
    await vi.advanceTimersByTimeAsync(61_000);
    expect(await outcome).toBe('down');
    const puts = t.calls.filter((c) => c.kind === 'put');
    expect(puts.length).toBeGreaterThanOrEqual(5);
    expect(puts.at(-1)!.at - puts[0]!.at).toBeGreaterThanOrEqual(60_000);
    expect(puts[1]!.at - puts[0]!.at).toBe(200);
  });

  it('succeeds when the first registration works on a later attempt', async () => {
    const t = fakeTransport();
    t.fail(2);
    const started = Heartbeater.start(t, 'svc', inst, { env: {} });
    await vi.advanceTimersByTimeAsync(400);
    const hb = await started;
    expect(t.calls.map((c) => c.at - 1_000_000)).toEqual([0, 200, 400]);
    expect(hb.beats).toBe(1);
    await hb.close();
  });

  it('does not retry a validation error', async () => {
    const t = fakeTransport();
    t.put = async () => {
      throw new DiscoverdError({ code: 'validation_error', message: 'bad', status: 400 });
    };
    await expect(Heartbeater.start(t, 'svc', inst, { env: {} })).rejects.toThrow('bad');
  });

  it('setMeta re-registers at once, keeping the env meta; close() stops and sends DELETE', async () => {
    const t = fakeTransport();
    const hb = await Heartbeater.start(
      t,
      'svc',
      { ...inst, meta: { FLYNN_JOB_ID: 'j' } },
      {
        random: () => 0,
        env: { FLYNN_JOB_ID: 'j' },
      },
    );
    await vi.advanceTimersByTimeAsync(1000);
    await hb.setMeta({ role: 'primary' });
    expect(t.calls.at(-1)).toMatchObject({
      kind: 'put',
      at: 1_001_000,
      inst: { meta: { FLYNN_JOB_ID: 'j', role: 'primary' } },
    });
    await hb.close();
    expect(t.calls.at(-1)!.kind).toBe('delete');
    const n = t.calls.length;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.calls.length).toBe(n);
    await expect(hb.setMeta({})).rejects.toThrow(/closed/);
  });

  it('close() during the first registration rejects it and sends DELETE', async () => {
    const t = fakeTransport();
    t.failAll(true);
    const hb = new Heartbeater(t, 'svc', inst, { env: {} });
    const own = hb.start().catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(500);
    await hb.close();
    expect(((await own) as Error).message).toMatch(/closed/);
    expect(t.calls.at(-1)!.kind).toBe('delete');
    const n = t.calls.length;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(t.calls.length).toBe(n);
  });

  it('release() stops heartbeating without a DELETE; close() after it sends nothing', async () => {
    const t = fakeTransport();
    let closes = 0;
    const hb = await Heartbeater.start(t, 'svc', inst, {
      random: () => 0,
      env: {},
      onClose: () => closes++,
    });
    await vi.advanceTimersByTimeAsync(12_000); // PUTs at 0, 5 s, 10 s
    expect(t.calls.map((c) => c.kind)).toEqual(['put', 'put', 'put']);
    await hb.release();
    expect(hb.isClosed).toBe(true);
    expect(closes).toBe(1);
    await vi.advanceTimersByTimeAsync(30_000);
    await hb.close();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.calls.map((c) => c.kind)).toEqual(['put', 'put', 'put']);
    expect(closes).toBe(1);
    await expect(hb.setMeta({})).rejects.toThrow(/closed/);
  });

  it('release() aborts an in-flight PUT and waits for it to settle', async () => {
    const t = fakeTransport();
    const hb = await Heartbeater.start(t, 'svc', inst, { random: () => 0, env: {} });
    let settled = false;
    let aborted = false;
    t.put = (_s, _i, signal) => {
      t.calls.push({ kind: 'put', at: Date.now() });
      // Settles only once aborted (a request stuck on a dead server).
      return new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => {
          aborted = true;
          // Settles a little after the abort: release() must wait for it.
          setTimeout(() => {
            settled = true;
            reject(signal.reason);
          }, 100);
        });
      });
    };
    await vi.advanceTimersByTimeAsync(5000); // the heartbeat at +5 s hangs
    expect(t.calls.map((c) => c.kind)).toEqual(['put', 'put']);
    let released = false;
    const releasing = hb.release().then(() => {
      released = true;
    });
    await vi.advanceTimersByTimeAsync(50);
    expect(aborted).toBe(true);
    expect(released).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await releasing;
    expect(settled).toBe(true);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.calls.map((c) => c.kind)).toEqual(['put', 'put']);
  });

  it('release() after close() shares its promise: one DELETE', async () => {
    const t = fakeTransport();
    const hb = await Heartbeater.start(t, 'svc', inst, { env: {} });
    const closing = hb.close();
    expect(hb.release()).toBe(closing);
    await closing;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(t.calls.map((c) => c.kind)).toEqual(['put', 'delete']);
  });

  it('release() during the first registration rejects it and sends nothing more', async () => {
    const t = fakeTransport();
    t.failAll(true);
    const hb = new Heartbeater(t, 'svc', inst, { env: {} });
    const own = hb.start().catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(500);
    await hb.release();
    expect(((await own) as Error).message).toMatch(/closed/);
    const n = t.calls.length;
    expect(t.calls.every((c) => c.kind === 'put')).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(t.calls.length).toBe(n);
  });
});
