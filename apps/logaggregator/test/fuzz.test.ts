import { createRng, type Rng } from '@flynn-edge/raft/rng';
import { encodeMessage, type LogMessage, splitLine } from '@flynn-edge/syslog';
import { waitFor } from '@flynn-edge/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DropReason, LogAggregator } from '../src/index.js';
import { getLog, msg, SyslogSender, startAggregator } from './helpers.js';

// Bad input over real TCP (seeded): every message is either stored byte-exact or rejected with a
// counter, and the process keeps serving.

let agg: LogAggregator;
let base: string;

beforeAll(async () => {
  agg = await startAggregator();
  base = `http://127.0.0.1:${agg.apiPort}`;
});
afterAll(async () => {
  await agg.close();
});

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

function frame(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${body.length} `), body]);
}

/** Writes `bytes` in random-sized pieces. */
function sendSplit(s: SyslogSender, rng: Rng, bytes: Buffer): void {
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + rng.int(4096);
    s.raw(bytes.subarray(i, i + n));
    i += n;
  }
}

const dropped = (r: DropReason) => agg.aggregator.stats.dropped[r];

async function stillServes(): Promise<void> {
  const app = `alive-${Math.random().toString(36).slice(2)}`;
  const s = await SyslogSender.connect(agg.syslogPort);
  s.send(msg({ appName: app, text: 'ok' }));
  await waitFor(async () => (await getLog(base, app)).lines[0]?.msg === 'ok', { what: 'a fresh message' });
  s.close();
}

describe('bad input', () => {
  it('stores binary payloads (invalid UTF-8, NUL, up to 10,000 bytes) byte-exact, across random splits', async () => {
    const rng = createRng(20261128);
    const app = 'fuzz-binary';
    const sent: LogMessage[] = [];
    for (let i = 0; i < 300; i++) {
      const len = rng.int(4) === 0 ? 10_000 - rng.int(10) : rng.int(300);
      const payload = randomBytes(rng, len);
      if (len > 0 && rng.int(2) === 0) payload[rng.int(len)] = 0; // NUL
      sent.push(msg({ appName: app, seq: i + 1, text: payload }));
    }
    const s = await SyslogSender.connect(agg.syslogPort);
    sendSplit(s, rng, Buffer.concat(sent.map((m) => frame(encodeMessage(m)))));
    await waitFor(() => agg.aggregator.ring(app)?.size === 300, { what: '300 stored' });
    const stored = agg.aggregator.ring(app)!.toArray();
    for (let i = 0; i < 300; i++) expect(stored[i]!.m.msg.equals(sent[i]!.msg), `message ${i}`).toBe(true);
    // The API renders them as valid JSON (invalid sequences become U+FFFD).
    const r = await getLog(base, app);
    expect(r.lines).toHaveLength(300);
    expect(r.lines[0]!.msg).toBe(sent[0]!.msg.toString('utf8'));
    s.close();
  });

  it('a 1 MB line split into 10,000-byte messages is stored whole, in order', async () => {
    const rng = createRng(7);
    const app = 'fuzz-mb';
    const line = Buffer.from(Array.from({ length: 1 << 20 }, () => 97 + rng.int(26)));
    const parts = splitLine(line);
    expect(parts.length).toBe(105);
    const s = await SyslogSender.connect(agg.syslogPort);
    s.send(...parts.map((p, i) => msg({ appName: app, seq: i + 1, text: p })));
    await waitFor(() => agg.aggregator.ring(app)?.size === parts.length, { what: 'every part' });
    const joined = (await getLog(base, app)).lines.map((l) => l.msg).join('');
    expect(joined).toBe(line.toString());
    s.close();
  });

  it('drops malformed messages inside good frames, counted, and keeps the connection', async () => {
    const rng = createRng(99);
    const app = 'fuzz-malformed';
    const good = (seq: number) => encodeMessage(msg({ appName: app, seq }));
    const corruptions: Array<[string, (seq: number) => Buffer, DropReason]> = [
      [
        'no structured data',
        (q) =>
          Buffer.from(
            good(q)
              .toString('latin1')
              .replace(/\[flynn seq="\d+"\]/, '-'),
            'latin1',
          ),
        'malformed',
      ],
      [
        'other SD only',
        (q) =>
          Buffer.from(
            good(q)
              .toString('latin1')
              .replace(/\[flynn seq="\d+"\]/, '[x y="1"]'),
            'latin1',
          ),
        'malformed',
      ],
      [
        'bad PRI',
        (q) => Buffer.from(good(q).toString('latin1').replace('<190>', '<999>'), 'latin1'),
        'malformed',
      ],
      [
        'version 2',
        (q) => Buffer.from(good(q).toString('latin1').replace('<190>1 ', '<190>2 '), 'latin1'),
        'malformed',
      ],
      [
        'bad timestamp',
        (q) =>
          Buffer.from(
            good(q)
              .toString('latin1')
              .replace(/ \d{4}-\S+ /, ' yesterday '),
            'latin1',
          ),
        'malformed',
      ],
      [
        'seq too big',
        (q) =>
          Buffer.from(
            good(q)
              .toString('latin1')
              .replace(/seq="\d+"/, 'seq="4294967296"'),
            'latin1',
          ),
        'malformed',
      ],
      [
        'seq not a number',
        (q) =>
          Buffer.from(
            good(q)
              .toString('latin1')
              .replace(/seq="\d+"/, 'seq="x"'),
            'latin1',
          ),
        'malformed',
      ],
      ['truncated header', () => Buffer.from('<190>1 2021-01-01T00:00:00Z host'), 'malformed'],
      ['empty message', () => Buffer.alloc(0), 'malformed'],
      ['random bytes', () => randomBytes(rng, 1 + rng.int(200)), 'malformed'],
      ['no app', (q) => encodeMessage(msg({ appName: '-', seq: q })), 'missing_field'],
      ['no timestamp', (q) => encodeMessage(msg({ appName: app, seq: q, timestamp: '-' })), 'missing_field'],
      [
        'non-ASCII host',
        (q) => Buffer.from(good(q).toString('latin1').replace(' host1 ', ' h\xe9st '), 'latin1'),
        'malformed',
      ],
    ];
    const expected: Partial<Record<DropReason, number>> = {};
    const before = { ...agg.aggregator.stats.dropped };
    const frames: Buffer[] = [];
    let goodCount = 0;
    for (let i = 1; i <= 400; i++) {
      if (rng.int(2) === 0) {
        frames.push(frame(good(i)));
        goodCount++;
      } else {
        const [, make, reason] = corruptions[rng.int(corruptions.length)]!;
        const body = make(i);
        if (body.length === 0) {
          // "0 " is a broken length prefix, not an empty message: keep this case for the fatal test
          continue;
        }
        frames.push(frame(body));
        expected[reason] = (expected[reason] ?? 0) + 1;
      }
    }
    const s = await SyslogSender.connect(agg.syslogPort);
    sendSplit(s, rng, Buffer.concat(frames));
    await waitFor(() => agg.aggregator.ring(app)?.size === goodCount, { what: `${goodCount} good messages` });
    for (const [reason, n] of Object.entries(expected)) {
      expect(dropped(reason as DropReason) - before[reason as DropReason], reason).toBe(n);
    }
    expect(s.closed).toBe(false);
    s.close();
  });

  it('closes a connection whose length prefix is broken, counted, and serves the others', async () => {
    const cases = [
      Buffer.from('hello world\n'),
      Buffer.from('0 '),
      Buffer.from('123456 x'),
      Buffer.from(' 12 x'),
      Buffer.from('20000 '),
      Buffer.concat([Buffer.from(`${1 << 20} `), Buffer.alloc(1 << 20, 0x61)]), // a 1 MB frame
      Buffer.from('\x00\x00\x00\x00'),
    ];
    const before = dropped('framing');
    for (const bytes of cases) {
      const s = await SyslogSender.connect(agg.syslogPort);
      const closed = new Promise((r) => s.socket.once('close', r));
      s.raw(bytes);
      await closed;
    }
    expect(dropped('framing') - before).toBe(cases.length);
    await stillServes();
  });

  it('survives seeded random garbage on many connections', async () => {
    const rng = createRng(4242);
    const total = () =>
      agg.aggregator.stats.ingested + Object.values(agg.aggregator.stats.dropped).reduce((a, b) => a + b, 0);
    const t0 = total();
    for (let c = 0; c < 30; c++) {
      const s = await SyslogSender.connect(agg.syslogPort);
      // Mostly-plausible frames with random bodies, then random bytes.
      const parts: Buffer[] = [];
      for (let k = 0; k < 5; k++) parts.push(frame(randomBytes(rng, 1 + rng.int(500))));
      parts.push(randomBytes(rng, rng.int(2000)));
      sendSplit(s, rng, Buffer.concat(parts));
      s.close();
    }
    await waitFor(() => total() - t0 >= 30 * 5, { what: 'every random frame accounted' });
    await stillServes();
  });
});
