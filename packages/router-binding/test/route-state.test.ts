import { beforeEach, describe, expect, it } from 'vitest';
import {
  type Backend,
  RELEASE_LINGER_MS,
  RouteState,
  ServiceBackends,
  type TcpRoutes,
} from '../src/index.js';
import { addrs, FakeWatchSource, flush, httpRoute, inst, ManualClock, memoryLog, tcpRoute } from './fakes.js';

class FakeTcp implements TcpRoutes {
  readonly ports = new Map<number, () => readonly Backend[]>();
  readonly removed: number[] = [];
  failSet = false;

  async setRoute(port: number, backends: () => readonly Backend[]): Promise<void> {
    if (this.failSet) throw new Error(`port ${port} in use`);
    this.ports.set(port, backends);
  }

  async removeRoute(port: number): Promise<void> {
    this.ports.delete(port);
    this.removed.push(port);
  }
}

let source: FakeWatchSource;
let clock: ManualClock;
let log: ReturnType<typeof memoryLog>;
let backends: ServiceBackends;
let tcp: FakeTcp;
let state: RouteState;

beforeEach(() => {
  source = new FakeWatchSource();
  clock = new ManualClock();
  log = memoryLog();
  backends = new ServiceBackends(source, {}, log, clock);
  tcp = new FakeTcp();
  state = new RouteState({ defaultPorts: [80, 443], backends, tcp, log });
});

const resolved = (host: string, path = '/', port = 80) => addrs(state.resolve(host, port, path)?.backends);

describe('routes and service watches', () => {
  it('a route added opens a watch of its service, and resolves to its backends', () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    expect(state.size).toBe(1);
    expect(source.opened.map((w) => w.service)).toEqual(['web']);
    expect(state.resolve('a.test', 80, '/')?.route.id).toBe('r1');
    expect(resolved('a.test')).toEqual([]);
    source.of('web').up(inst('a', '127.0.0.1:1')).current();
    expect(resolved('a.test')).toEqual(['127.0.0.1:1']);
    expect(state.resolve('b.test', 80, '/')).toBeUndefined();
  });

  it('two routes of one service share one watch; it closes when neither uses it', () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    state.set(httpRoute('r2', 'b.test', 'web'));
    expect(source.opened).toHaveLength(1);
    source.of('web').up(inst('a', '127.0.0.1:1'));
    expect(resolved('a.test')).toEqual(['127.0.0.1:1']);
    expect(resolved('b.test')).toEqual(['127.0.0.1:1']);

    state.remove(httpRoute('r1', 'a.test', 'web'));
    clock.advance(RELEASE_LINGER_MS);
    expect(source.open('web')).toHaveLength(1);
    expect(state.resolve('a.test', 80, '/')).toBeUndefined();

    state.remove(httpRoute('r2', 'b.test', 'web'));
    expect(state.size).toBe(0);
    clock.advance(RELEASE_LINGER_MS);
    expect(source.open('web')).toHaveLength(0);
  });

  it('an update keeps the service watch; a changed service moves to the new one', () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    source.of('web').up(inst('a', '127.0.0.1:1'));
    state.set(httpRoute('r1', 'a.test', 'web', { path: '/', sticky: true }));
    clock.advance(RELEASE_LINGER_MS);
    expect(source.opened).toHaveLength(1);
    expect(resolved('a.test')).toEqual(['127.0.0.1:1']);

    state.set(httpRoute('r1', 'a.test', 'api'));
    source.of('api').up(inst('x', '127.0.0.1:5'));
    expect(resolved('a.test')).toEqual(['127.0.0.1:5']);
    clock.advance(RELEASE_LINGER_MS);
    expect(source.open('web')).toHaveLength(0);
    expect(state.size).toBe(1);
  });

  it('a route without id is keyed by what it claims, and can be removed', async () => {
    const h = httpRoute('x', 'a.test', 'web');
    const t = tcpRoute('x', 3000, 'db');
    delete h.id;
    delete t.id;
    state.set(h);
    state.set({ ...h });
    state.set(t);
    expect(state.size).toBe(2);
    state.remove({ ...h });
    state.remove({ ...t });
    await flush();
    expect(state.size).toBe(0);
    expect(state.resolve('a.test', 80, '/')).toBeUndefined();
    expect(tcp.removed).toEqual([3000]);
  });
});

describe('backends of a route', () => {
  it('follow instances coming up, changing and going down', () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    const w = source.of('web');
    w.up(inst('a', '127.0.0.1:1')).up(inst('b', '127.0.0.1:2')).current();
    expect(resolved('a.test')).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    w.update(inst('b', '127.0.0.1:2', { FLYNN_JOB_ID: 'job-2' }));
    expect(state.resolve('a.test', 80, '/')?.backends[1].jobId).toBe('job-2');
    w.down(inst('a', '127.0.0.1:1'));
    expect(resolved('a.test')).toEqual(['127.0.0.1:2']);
  });

  it('a leader route follows the service leader; other routes of the service get every instance', () => {
    state.set(httpRoute('r1', 'db.test', 'db', { leader: true }));
    state.set(httpRoute('r2', 'all.test', 'db'));
    const w = source.of('db');
    const a = inst('a', '127.0.0.1:1');
    const b = inst('b', '127.0.0.1:2');
    w.up(a).up(b).current();
    expect(resolved('db.test')).toEqual([]);
    w.leader(a);
    expect(resolved('db.test')).toEqual(['127.0.0.1:1']);
    w.leader(b);
    expect(resolved('db.test')).toEqual(['127.0.0.1:2']);
    expect(resolved('all.test')).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    w.down(b);
    expect(resolved('db.test')).toEqual([]);
  });

  it('a restarted watch replaces the backend set when its stream is current', async () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    source.of('web').up(inst('a', '127.0.0.1:1')).up(inst('b', '127.0.0.1:2')).current();
    source.of('web').giveUp();
    await flush();
    clock.advance(2000);
    source.of('web').up(inst('c', '127.0.0.1:3')).current();
    expect(resolved('a.test')).toEqual(['127.0.0.1:3']);
  });

  it('a drained address leaves every route of the service at once', () => {
    state.set(httpRoute('r1', 'a.test', 'web'));
    state.set(httpRoute('r2', 'b.test', 'web', { leader: true }));
    const a = inst('a', '127.0.0.1:1');
    source.of('web').up(a).up(inst('b', '127.0.0.1:2')).leader(a);
    backends.get('web')?.withhold('127.0.0.1:1');
    expect(resolved('a.test')).toEqual(['127.0.0.1:2']);
    expect(resolved('b.test')).toEqual([]);
  });
});

describe('TCP routes', () => {
  it('are handed to the TCP proxy with a live backend supplier, and taken back on remove', async () => {
    state.set(tcpRoute('t1', 3000, 'db'));
    state.set(tcpRoute('t2', 3001, 'db', { leader: true }));
    await flush();
    const w = source.of('db');
    const a = inst('a', '127.0.0.1:1');
    w.up(a).up(inst('b', '127.0.0.1:2')).leader(a);
    expect(addrs(tcp.ports.get(3000)?.())).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    expect(addrs(tcp.ports.get(3001)?.())).toEqual(['127.0.0.1:1']);
    expect(state.table.matchTCP(3000)?.id).toBe('t1');

    state.remove(tcpRoute('t1', 3000, 'db'));
    await flush();
    expect(tcp.removed).toEqual([3000]);
    expect([...tcp.ports.keys()]).toEqual([3001]);
  });

  it('an update that moves a route to another port releases the old port', async () => {
    state.set(tcpRoute('t1', 3000, 'db'));
    state.set(tcpRoute('t1', 3005, 'db'));
    await flush();
    expect(tcp.removed).toEqual([3000]);
    expect([...tcp.ports.keys()]).toEqual([3005]);
  });

  it('a port taken over by another route is not released', async () => {
    state.set(tcpRoute('t1', 3000, 'db'));
    state.set(tcpRoute('t2', 3000, 'db'));
    state.remove(tcpRoute('t1', 3000, 'db'));
    await flush();
    expect(tcp.removed).toEqual([]);
    expect(tcp.ports.has(3000)).toBe(true);
  });

  it('a port the TCP proxy cannot take is logged, not thrown', async () => {
    tcp.failSet = true;
    state.set(tcpRoute('t1', 3000, 'db'));
    await flush();
    expect(log.lines).toEqual(['error cannot serve TCP route']);
    expect(state.size).toBe(1);
  });
});

describe('certificates by server name', () => {
  it("answers the route's certificate, the default one, or none", () => {
    state.set(
      httpRoute('r1', 'secure.test', 'web', {
        certificate: { cert: 'CERT', key: 'KEY', created_at: '', updated_at: '' },
      }),
    );
    state.set(httpRoute('r2', 'plain.test', 'web'));
    const lookup = state.sniLookup(443);
    expect(lookup('secure.test')).toEqual({ certPem: 'CERT', keyPem: 'KEY' });
    expect(lookup('plain.test')).toBe('default');
    expect(lookup('other.test')).toBeUndefined();
  });
});
