import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { type Cursor, compareCursor, FrameDecoder, type LogMessage } from '@flynn-edge/syslog';
import { waitFor } from '@flynn-edge/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { LogShipper, LogStore } from '../src/index.js';
import { lines, range, tmpDir } from './helpers.js';

/**
 * A tiny stand-in for logaggregator: RFC 6587 ingest over TCP (no newline), per-host cursor, and
 * GET /cursors. Its state survives restart() like a snapshot-restored instance.
 */
class FakeAggregator {
  readonly received: LogMessage[] = [];
  readonly cursors = new Map<string, Cursor>();
  errors: string[] = [];
  private tcp?: net.Server;
  private api?: http.Server;
  private conns = new Set<net.Socket>();
  syslogPort = 0;
  apiPort = 0;

  async start(): Promise<void> {
    this.tcp = net.createServer((sock) => {
      this.conns.add(sock);
      const dec = new FrameDecoder();
      sock.on('data', (chunk) => {
        for (const m of dec.push(chunk)) {
          if ('error' in m) {
            this.errors.push(m.error);
            continue;
          }
          this.received.push(m);
          const c = { time: m.timestamp, seq: m.seq };
          const prev = this.cursors.get(m.hostname);
          if (!prev || compareCursor(c, prev) > 0) this.cursors.set(m.hostname, c);
        }
      });
      sock.on('error', () => {});
      sock.on('close', () => this.conns.delete(sock));
    });
    this.api = http.createServer((req, res) => {
      if (req.url === '/cursors') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(Object.fromEntries(this.cursors)));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => this.tcp!.listen(this.syslogPort, '127.0.0.1', r));
    await new Promise<void>((r) => this.api!.listen(this.apiPort, '127.0.0.1', r));
    this.syslogPort = (this.tcp.address() as net.AddressInfo).port;
    this.apiPort = (this.api.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => this.tcp?.close(() => r()) ?? r());
    this.api?.closeAllConnections();
    await new Promise<void>((r) => this.api?.close(() => r()) ?? r());
  }

  instance() {
    return { syslogAddr: `127.0.0.1:${this.syslogPort}`, apiUrl: `http://127.0.0.1:${this.apiPort}` };
  }
}

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function keys(ms: LogMessage[]): string[] {
  return ms.map((m) => `${m.appName}/${m.seq}`);
}

describe('LogShipper', () => {
  it('replays history after the cursor, streams live, and resumes across an aggregator restart', async () => {
    const dir = tmpDir('ship');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new LogStore({ dir, hostId: 'host1', maxBytes: 256 * 1024 });
    cleanup.push(() => store.close());
    const written: LogMessage[] = [];
    const write = (n: number) => {
      for (let i = 0; i < n; i++)
        written.push(
          ...store.write(`app${i % 3}`, {
            procId: `web.host1-j${i % 2}`,
            msgId: 'ID1',
            msg: `line ${written.length}`,
          }),
        );
    };
    write(300);
    await store.flush();

    const agg = new FakeAggregator();
    await agg.start();
    cleanup.push(() => agg.stop());
    // the aggregator already has the first 100 lines (from an earlier session)
    agg.cursors.set('host1', { time: written[99]!.timestamp, seq: written[99]!.seq });
    agg.received.push(...written.slice(0, 100));

    const errors: string[] = [];
    const shipper = new LogShipper({
      store,
      listAggregators: () => [agg.instance()],
      backoffMinMs: 20,
      backoffMaxMs: 200,
      onError: (err) => errors.push(err.message),
    });
    shipper.start();
    cleanup.push(() => shipper.stop());

    await waitFor(() => agg.received.length >= 300, { what: 'history replay' });
    write(200); // live
    await waitFor(() => agg.received.length >= 500, { what: 'live lines' });
    expect(keys(agg.received)).toEqual(keys(written));

    // restart the aggregator (same ports, state kept); lines written meanwhile must arrive once
    await agg.stop();
    write(150);
    await store.flush();
    await agg.start();
    write(50);
    await waitFor(() => agg.received.length >= written.length, {
      what: 'resume after restart',
      timeoutMs: 10_000,
    });
    // let any straggling duplicates arrive before checking
    await waitFor(() => shipper.status()[0]?.connected, { what: 'reconnected' });
    write(1);
    await waitFor(() => agg.received.length >= written.length, { what: 'one more live line' });
    expect(keys(agg.received)).toEqual(keys(written));
    expect(agg.errors).toEqual([]);
    expect(shipper.status()[0]!.sessions).toBeGreaterThanOrEqual(2);
    expect(errors.length).toBeGreaterThan(0); // the restart was noticed
  });

  it('ships everything to a fresh aggregator and keeps retrying while it is down', async () => {
    const dir = tmpDir('ship2');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new LogStore({ dir, hostId: 'host2' });
    cleanup.push(() => store.close());
    for (let i = 0; i < 50; i++) store.write('app', { procId: 'j', msgId: 'ID2', msg: `x${i}` });
    // reserve a port, then free it so the first connects are refused
    const agg = new FakeAggregator();
    await agg.start();
    const inst = agg.instance();
    await agg.stop();
    const errors: string[] = [];
    const shipper = new LogShipper({
      store,
      listAggregators: () => [inst],
      backoffMinMs: 10,
      backoffMaxMs: 50,
      onError: (e) => errors.push(e.message),
    });
    shipper.start();
    cleanup.push(() => shipper.stop());
    await waitFor(() => errors.length >= 2, { what: 'failed connects' });
    await agg.start();
    cleanup.push(() => agg.stop());
    await waitFor(() => agg.received.length >= 50, { what: 'delivery' });
    expect(agg.received.map((m) => m.seq)).toEqual(range(0, 50));
    expect(agg.received.every((m) => m.hostname === 'host2' && m.msgId === 'ID2')).toBe(true);
  });

  it('ships job output batches live, and catches up from the files when a batch overflows its live buffer', async () => {
    const dir = tmpDir('ship-batch');
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const store = new LogStore({ dir, hostId: 'host1' });
    cleanup.push(() => store.close());
    const agg = new FakeAggregator();
    await agg.start();
    cleanup.push(() => agg.stop());
    // a live buffer of one batch: batches accepted while one waits overflow it
    const shipper = new LogShipper({ store, listAggregators: () => [agg.instance()], liveBufferBytes: 1 });
    shipper.start();
    cleanup.push(() => shipper.stop());
    await waitFor(() => shipper.status()[0]?.connected, { what: 'connected' });
    let n = 0;
    const batch = (count: number, app = 'app1') => {
      const { data, starts, ends } = lines(Array.from({ length: count }, () => `line ${n++}`));
      store.writeLines(app, 'web.host1-j1', 'ID1', data, starts, ends);
    };
    batch(100); // live, whole
    await waitFor(() => agg.received.length >= 100, { what: 'first batch' });
    for (let i = 0; i < 20; i++) batch(50, i % 2 ? 'app1' : 'app2'); // in one tick: overflows
    await waitFor(() => agg.received.length >= n, { what: 'every line', timeoutMs: 10_000 });
    batch(10); // live again after the catch-up
    await waitFor(() => agg.received.length >= n, { what: 'live after catch-up' });
    expect(agg.received.map((m) => m.msg.toString())).toEqual(range(0, n).map((i) => `line ${i}`));
    expect(agg.received.map((m) => m.seq)).toEqual(range(0, n));
    expect(agg.errors).toEqual([]);
    expect(shipper.status()[0]!.shipped).toBe(n);
  });
});
