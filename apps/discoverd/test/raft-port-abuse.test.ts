import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { DiscoverdProcessCluster } from '../src/process-cluster.js';
import { write } from './helpers.js';

// Issue 11: the Raft side of the shared port (first byte 0xFF) against a real 3-voter cluster with
// a cluster key. Hellos are written by hand here, so the test also pins the wire format:
//   frame(u8 2 | u16 fromLen | from | u16 toLen | to | nonce[16] | HMAC-SHA256(key, label | the rest))

const KEY = 'raft-port-test-key';
const HELLO_LABEL = 'flynn-edge raft hello\n';
const MiB = 1024 * 1024;

function frame(payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(payload.length);
  return Buffer.concat([h, payload]);
}

function ids(from: string, to: string): Buffer[] {
  const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
  return [u16(Buffer.byteLength(from)), Buffer.from(from), u16(Buffer.byteLength(to)), Buffer.from(to)];
}

/** The unauthenticated hello (version 1) every build before issue 11 accepted from anyone. */
function plainHello(from: string, to: string): Buffer {
  return frame(Buffer.concat([Buffer.of(1), ...ids(from, to)]));
}

function keyedHello(from: string, to: string, key: string): Buffer {
  const body = Buffer.concat([Buffer.of(2), ...ids(from, to), randomBytes(16)]);
  const mac = createHmac('sha256', key).update(HELLO_LABEL).update(body).digest();
  return frame(Buffer.concat([body, mac]));
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

interface Probe {
  socket: net.Socket;
  openedAt: number;
  /** ms from connect to close, once closed. */
  closedAfter: number | null;
  /** The bulk of the body was written (or the connection closed first). */
  bulkDone: boolean;
}

async function open(addr: string, localAddress?: string): Promise<Probe> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  const socket = net.connect({ host, port, localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const p: Probe = { socket, openedAt: Date.now(), closedAfter: null, bulkDone: false };
  socket.on('error', () => {});
  socket.on('close', () => {
    p.closedAfter = Date.now() - p.openedAt;
  });
  socket.resume();
  return p;
}

/** Sends `bytes` of body in 1 MiB writes, waiting for each to drain, then one byte every 500 ms. */
async function trickle(p: Probe, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(MiB, 0x41);
  for (let sent = 0; sent < bytes && p.closedAfter === null; sent += MiB) {
    if (!p.socket.write(chunk)) {
      await new Promise<void>((r) => {
        const done = () => {
          p.socket.off('drain', done);
          p.socket.off('close', done);
          r();
        };
        p.socket.once('drain', done);
        p.socket.once('close', done);
      });
    }
  }
  p.bulkDone = true;
  while (p.closedAfter === null) {
    p.socket.write(Buffer.of(0x41));
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('the Raft side of the shared port', () => {
  const cluster = new DiscoverdProcessCluster({ firstHost: 61, env: { CLUSTER_KEY: KEY } });
  const probes: Probe[] = [];
  afterAll(async () => {
    for (const p of probes) p.socket.destroy();
    await cluster.close();
  });

  async function probe(addr: string, localAddress?: string): Promise<Probe> {
    const p = await open(addr, localAddress);
    probes.push(p);
    return p;
  }

  it('closes forged Raft connections quickly, holds no memory for them, and keeps committing', async () => {
    cluster.start();
    const leader = await cluster.leader();
    const target = cluster.addrs[leader];
    const follower = cluster.addrs[(leader + 1) % 3];
    const pid = cluster.procs[leader].pid!;
    const auth = { authorization: `Bearer ${KEY}` };
    expect((await write('PUT', cluster.url(leader, '/kv/warmup'), { value: 'x' }, auth)).status).toBe(200);
    const rssBefore = rssBytes(pid);

    // A well-behaved client writes to the registry and the cluster store throughout.
    let stop = false;
    let acked = 0;
    let worstGapMs = 0;
    const writer = (async () => {
      let last = Date.now();
      for (let n = 0; !stop; n++) {
        try {
          const r =
            n % 2 === 0
              ? await write('PUT', cluster.url(leader, `/services/raft-port-${n % 10}`), {}, {}, 3000)
              : await write('PUT', cluster.url(leader, `/kv/n${n % 10}`), { value: String(n) }, auth, 3000);
          if (r.status === 200) {
            acked++;
            worstGapMs = Math.max(worstGapMs, Date.now() - last);
            last = Date.now();
          }
        } catch {
          // counted through worstGapMs
        }
      }
    })();

    // A dozen connections: the marker, a hello without the key from a made-up sender, a 64 MiB
    // frame header, 24 MiB of its body, then one byte every 500 ms.
    let peakRss = rssBefore;
    const ackedBeforeAttack = acked;
    let ackedDuringAttack = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssBytes(pid));
    }, 100);
    const attackers: Probe[] = [];
    const pumps: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      const p = await probe(target, `127.0.0.${71 + (i % 3)}`);
      attackers.push(p);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(64 * MiB);
      p.socket.write(Buffer.concat([Buffer.of(0xff), plainHello(`attacker-${i}:1111`, target), header]));
      pumps.push(trickle(p, 24 * MiB));
    }
    try {
      await waitFor(() => attackers.every((p) => p.bulkDone), { timeoutMs: 30_000, what: 'the bulk sent' });
      peakRss = Math.max(peakRss, rssBytes(pid));
      expect(peakRss - rssBefore, 'leader RSS growth under the attack').toBeLessThan(100 * MiB);
      await waitFor(() => attackers.every((p) => p.closedAfter !== null), {
        timeoutMs: 15_000,
        what: 'every forged connection closed',
      });
      expect(Math.max(...attackers.map((p) => p.closedAfter!))).toBeLessThan(8000);
      await Promise.all(pumps);
      // The writer gets a little longer to show the cluster is still committing.
      ackedDuringAttack = acked - ackedBeforeAttack;
      const ackedAfterAttack = acked;
      await waitFor(() => acked >= ackedAfterAttack + 10, {
        timeoutMs: 15_000,
        what: 'writes after the attack',
      });
    } finally {
      clearInterval(sampler);
      stop = true;
      await writer;
    }
    peakRss = Math.max(peakRss, rssBytes(pid));
    expect(peakRss - rssBefore, 'leader RSS growth after the attack').toBeLessThan(100 * MiB);
    // Committing throughout: acknowledged writes during the attack, never 4 s (a proposal timeout) without one.
    expect(ackedDuringAttack).toBeGreaterThan(0);
    expect(worstGapMs).toBeLessThan(4000);

    // A wrong key, or the right key with a sender outside the configuration: closed at once.
    for (const hello of [
      keyedHello(follower, target, 'not-the-key'),
      keyedHello('10.9.9.9:1111', target, KEY),
    ]) {
      const p = await probe(target);
      p.socket.write(Buffer.concat([Buffer.of(0xff), hello]));
      await waitFor(() => p.closedAfter !== null, { timeoutMs: 5000, what: 'a rejected hello closed' });
      expect(p.closedAfter!).toBeLessThan(1000);
    }

    // The marker and nothing else: closed after the hello deadline (a few seconds), not never.
    const silent = await probe(target);
    silent.socket.write(Buffer.of(0xff));
    await waitFor(() => silent.closedAfter !== null, {
      timeoutMs: 10_000,
      what: 'a silent connection closed',
    });
    expect(silent.closedAfter!).toBeLessThan(7000);

    // At most 8 Raft connections from one source address: the rest are closed at once.
    const crowd: Probe[] = [];
    for (let i = 0; i < 10; i++) {
      const p = await probe(target, '127.0.0.74');
      p.socket.write(Buffer.of(0xff));
      crowd.push(p);
    }
    await waitFor(() => crowd.filter((p) => p.closedAfter !== null).length >= 2, {
      timeoutMs: 2000,
      what: 'connections over the per-address cap closed',
    });
    expect(crowd.filter((p) => p.closedAfter !== null && p.closedAfter < 1000).length).toBe(2);
    for (const p of crowd) p.socket.destroy();

    // The genuine members still talk: a write commits on all three.
    expect((await write('PUT', cluster.url(leader, '/kv/after'), { value: 'y' }, auth)).status).toBe(200);
  }, 90_000);
});
