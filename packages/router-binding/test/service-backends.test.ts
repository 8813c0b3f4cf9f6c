import { beforeEach, describe, expect, it } from 'vitest';
import { RELEASE_LINGER_MS, RESTART_DELAY_MS, ServiceBackends } from '../src/index.js';
import { addrs, FakeWatchSource, flush, inst, ManualClock, memoryLog, recorder } from './fakes.js';

let source: FakeWatchSource;
let clock: ManualClock;
let listener: ReturnType<typeof recorder>;
let log: ReturnType<typeof memoryLog>;
let backends: ServiceBackends;

beforeEach(() => {
  source = new FakeWatchSource();
  clock = new ManualClock();
  listener = recorder();
  log = memoryLog();
  backends = new ServiceBackends(source, listener, log, clock);
});

describe('watch lifetime', () => {
  it('opens one watch per service, shared by every acquire', () => {
    const a = backends.acquire('web');
    const b = backends.acquire('web');
    backends.acquire('db');
    expect(a).toBe(b);
    expect(source.opened.map((w) => w.service)).toEqual(['web', 'db']);
  });

  it('closes the watch a while after the last release, reporting its backends down', () => {
    backends.acquire('web');
    backends.acquire('web');
    source.of('web').up(inst('a', '127.0.0.1:1')).current();
    backends.release('web');
    backends.release('web');
    clock.advance(RELEASE_LINGER_MS - 1);
    expect(source.open('web')).toHaveLength(1);
    clock.advance(1);
    expect(source.open('web')).toHaveLength(0);
    expect(backends.get('web')).toBeUndefined();
    expect(listener.events).toEqual(['up web 127.0.0.1:1', 'down web 127.0.0.1:1']);
  });

  it('keeps the watch open while one route still uses it', () => {
    backends.acquire('web');
    backends.acquire('web');
    backends.release('web');
    clock.advance(RELEASE_LINGER_MS * 2);
    expect(source.open('web')).toHaveLength(1);
  });

  it('an acquire within the linger keeps the same watch and its backends', () => {
    const c = backends.acquire('web');
    source.of('web').up(inst('a', '127.0.0.1:1')).current();
    backends.release('web');
    clock.advance(RELEASE_LINGER_MS / 2);
    expect(backends.acquire('web')).toBe(c);
    clock.advance(RELEASE_LINGER_MS * 2);
    expect(source.opened).toHaveLength(1);
    expect(source.open('web')).toHaveLength(1);
    expect(addrs(c.all)).toEqual(['127.0.0.1:1']);
  });

  it('close() closes every watch and cancels pending timers', () => {
    backends.acquire('web');
    backends.acquire('db');
    backends.release('db');
    backends.close();
    expect(source.opened.every((w) => w.closed)).toBe(true);
    expect(clock.pending).toBe(0);
    expect(backends.services()).toEqual([]);
  });
});

describe('instances', () => {
  it('up, update and down change the backends; the listener hears up and down once each', () => {
    const c = backends.acquire('web');
    const w = source.of('web');
    w.up(inst('a', '127.0.0.1:1', { FLYNN_APP_NAME: 'demo', FLYNN_JOB_ID: 'host-1' }));
    w.up(inst('b', '127.0.0.1:2')).current();
    expect(c.synced).toBe(true);
    expect(c.all).toEqual([
      { service: 'web', addr: '127.0.0.1:1', app: 'demo', jobId: 'host-1' },
      { service: 'web', addr: '127.0.0.1:2' },
    ]);
    w.update(inst('b', '127.0.0.1:2', { FLYNN_APP_NAME: 'demo' }));
    expect(c.all[1]).toEqual({ service: 'web', addr: '127.0.0.1:2', app: 'demo' });
    w.down(inst('a', '127.0.0.1:1'));
    expect(addrs(c.all)).toEqual(['127.0.0.1:2']);
    w.down(inst('zz', '127.0.0.1:9'));
    expect(listener.events).toEqual(['up web 127.0.0.1:1', 'up web 127.0.0.1:2', 'down web 127.0.0.1:1']);
  });

  it('keeps arrays stable between changes (a request reads them without copying)', () => {
    const c = backends.acquire('web');
    source.of('web').up(inst('a', '127.0.0.1:1'));
    const before = c.all;
    expect(c.all).toBe(before);
    source.of('web').up(inst('b', '127.0.0.1:2'));
    expect(c.all).not.toBe(before);
    expect(addrs(before)).toEqual(['127.0.0.1:1']);
  });

  it('leaderOnly follows the service leader', () => {
    const c = backends.acquire('db');
    const w = source.of('db');
    const a = inst('a', '127.0.0.1:1');
    const b = inst('b', '127.0.0.1:2');
    w.up(a).up(b).current();
    expect(c.leaderOnly).toEqual([]);
    w.leader(a);
    expect(addrs(c.leaderOnly)).toEqual(['127.0.0.1:1']);
    w.leader(b);
    expect(addrs(c.leaderOnly)).toEqual(['127.0.0.1:2']);
    w.down(b);
    expect(c.leaderOnly).toEqual([]);
    w.leader(a);
    w.leader();
    expect(c.leaderOnly).toEqual([]);
    expect(addrs(c.all)).toEqual(['127.0.0.1:1']);
  });

  it('a leader that went down is not leader again when it comes back until discoverd says so', () => {
    const c = backends.acquire('db');
    const a = inst('a', '127.0.0.1:1');
    source.of('db').up(a).leader(a).down(a).up(a);
    expect(c.leaderOnly).toEqual([]);
    source.of('db').leader(a);
    expect(addrs(c.leaderOnly)).toEqual(['127.0.0.1:1']);
  });

  it('a leader not (yet) among the instances routes nowhere', () => {
    const c = backends.acquire('db');
    source.of('db').leader(inst('x', '127.0.0.1:7'));
    expect(c.leaderOnly).toEqual([]);
    source.of('db').up(inst('x', '127.0.0.1:7'));
    expect(addrs(c.leaderOnly)).toEqual(['127.0.0.1:7']);
  });
});

describe('a watch that gives up', () => {
  it('is restarted after the delay, and the new stream reconciles the backend set at current', async () => {
    const c = backends.acquire('web');
    const first = source.of('web');
    const a = inst('a', '127.0.0.1:1');
    first.up(a).up(inst('b', '127.0.0.1:2')).leader(a).current();
    listener.events.length = 0;

    first.giveUp();
    await flush();
    expect(log.lines).toEqual(['warn service watch ended, restarting in 2s']);
    clock.advance(RESTART_DELAY_MS - 1);
    expect(source.opened).toHaveLength(1);
    clock.advance(1);
    const second = source.of('web');
    expect(second).not.toBe(first);

    // Until the new stream is current, what it has not mentioned yet is still served.
    second.up(inst('b', '127.0.0.1:2')).up(inst('c', '127.0.0.1:3'));
    expect(addrs(c.all)).toEqual(['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']);
    second.current();
    expect(addrs(c.all)).toEqual(['127.0.0.1:2', '127.0.0.1:3']);
    expect(c.leaderOnly).toEqual([]);
    expect(listener.events).toEqual(['up web 127.0.0.1:3', 'down web 127.0.0.1:1']);
  });

  it('a fresh watch with nothing known removes nothing at current', async () => {
    const c = backends.acquire('web');
    source.of('web').giveUp();
    await flush();
    clock.advance(RESTART_DELAY_MS);
    source.of('web').up(inst('a', '127.0.0.1:1')).current();
    expect(addrs(c.all)).toEqual(['127.0.0.1:1']);
  });

  it('is restarted during the linger, and closed with the service after it', async () => {
    backends.acquire('web');
    backends.release('web');
    source.of('web').giveUp();
    await flush();
    clock.advance(RESTART_DELAY_MS);
    expect(source.open('web')).toHaveLength(1);
    clock.advance(RELEASE_LINGER_MS);
    expect(source.open('web')).toHaveLength(0);
    clock.advance(RESTART_DELAY_MS * 2);
    expect(source.opened).toHaveLength(2);
  });

  it('a closed watch is not restarted', async () => {
    backends.acquire('web');
    backends.close();
    await flush();
    clock.advance(RESTART_DELAY_MS * 2);
    expect(source.opened).toHaveLength(1);
    expect(log.lines).toEqual([]);
  });
});

describe('drain', () => {
  it('withhold takes an address out of rotation ahead of discoverd, but it stays known', () => {
    const c = backends.acquire('web');
    const w = source.of('web');
    const a = inst('a', '127.0.0.1:1');
    w.up(a).up(inst('b', '127.0.0.1:2')).leader(a).current();
    backends.get('web')?.withhold('127.0.0.1:1');
    expect(addrs(c.all)).toEqual(['127.0.0.1:2']);
    expect(c.leaderOnly).toEqual([]);
    expect(addrs(c.known())).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    w.down(a);
    expect(addrs(c.known())).toEqual(['127.0.0.1:2']);
  });

  it('an instance coming up again at a withheld address is back in rotation', () => {
    const c = backends.acquire('web');
    const w = source.of('web');
    w.up(inst('a', '127.0.0.1:1')).current();
    c.withhold('127.0.0.1:1');
    w.down(inst('a', '127.0.0.1:1'));
    w.up(inst('a2', '127.0.0.1:1'));
    expect(addrs(c.all)).toEqual(['127.0.0.1:1']);
  });
});
