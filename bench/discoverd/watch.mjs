// Watch fan-out for bench/discoverd, in its own process: opens `subscribers` SSE streams
// (GET /services/<service>, Accept: text/event-stream) spread round-robin over the nodes, waits for
// every stream's `current` marker, then registers `writes` new instances one at a time (to the
// leader, following 307s) and times the `up` event's arrival on every stream. The writer lives in
// this process too, so that write times and delivery times come from one clock.
//
// Usage: node watch.mjs '<json>' with {nodes: [base urls], leader: base url, service,
//   subscribers, writes, gapMs, deliveryTimeoutMs}. Prints one JSON line.
import http from 'node:http';
import { instanceBody, md5Id, nowMs, sleep, summary, write } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);
const { nodes, leader, service, subscribers, writes, gapMs = 200, deliveryTimeoutMs = 10_000 } = cfg;
const streamAgent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
const writeAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** id → { deliveries: number[], done: () => void } for the write in flight. */
const pending = new Map();
const streams = [];
let currentSeen = 0;
let onAllCurrent;
const allCurrent = new Promise((r) => (onAllCurrent = r));
const ended = { count: 0, errors: [] };

function openStream(base) {
  const u = new URL(`${base}/services/${service}`);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    path: u.pathname,
    headers: { accept: 'text/event-stream' },
    agent: streamAgent,
  });
  const s = { req, buf: '', current: false };
  req.on('response', (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      s.buf += chunk;
      let i = s.buf.indexOf('\n\n');
      while (i >= 0) {
        const block = s.buf.slice(0, i);
        s.buf = s.buf.slice(i + 2);
        i = s.buf.indexOf('\n\n');
        if (block.includes('event: error')) ended.errors.push(block);
        if (!s.current) {
          if (block.includes('"kind":"current"')) {
            s.current = true;
            if (++currentSeen === subscribers) onAllCurrent();
          }
          continue;
        }
        // Live events: only `up` of an instance we are timing matters; look the id up cheaply.
        if (!block.includes('"kind":"up"')) continue;
        const m = /"id":"([0-9a-f]{32})"/.exec(block);
        const p = m && pending.get(m[1]);
        if (p) {
          p.deliveries.push(nowMs());
          if (p.deliveries.length === subscribers) p.done();
        }
      }
    });
    res.on('end', () => ended.count++);
  });
  req.on('error', (err) => {
    ended.count++;
    if (ended.errors.length < 5) ended.errors.push(String(err));
  });
  req.end();
  streams.push(s);
}

const connectStart = nowMs();
for (let i = 0; i < subscribers; i++) {
  openStream(nodes[i % nodes.length]);
  if (i % 100 === 99) await sleep(10); // don't SYN-flood the accept queues
}
await Promise.race([
  allCurrent,
  sleep(30_000).then(() => {
    throw new Error(`only ${currentSeen}/${subscribers} streams got their current marker in 30 s`);
  }),
]);
const connectMs = nowMs() - connectStart;
await sleep(500);

const perWrite = [];
const allFromAck = [];
for (let w = 0; w < writes; w++) {
  const addr = `10.77.${w >> 8}.${w & 255}:${5000 + w}`;
  const id = md5Id('tcp', addr);
  let done;
  const delivered = new Promise((r) => (done = r));
  const p = { deliveries: [], done };
  pending.set(id, p);
  const start = nowMs();
  const r = await write('PUT', `${leader}/services/${service}/instances/${id}`, {
    body: instanceBody(addr),
    agent: writeAgent,
  });
  const ack = nowMs();
  if (r.status !== 200) throw new Error(`write ${w}: ${r.status} ${r.text}`);
  await Promise.race([delivered, sleep(deliveryTimeoutMs)]);
  pending.delete(id);
  const d = p.deliveries;
  for (const t of d) allFromAck.push(t - ack);
  perWrite.push({
    ackMs: ack - start,
    delivered: d.length,
    firstFromAckMs: d.length ? Math.min(...d) - ack : null,
    lastFromAckMs: d.length ? Math.max(...d) - ack : null,
    lastFromStartMs: d.length ? Math.max(...d) - start : null,
  });
  await sleep(gapMs);
}

for (const s of streams) s.req.destroy();
streamAgent.destroy();
writeAgent.destroy();
const r3 = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
const complete = perWrite.filter((x) => x.delivered === subscribers);
process.stdout.write(
  `${JSON.stringify({
    subscribers,
    nodes: nodes.length,
    writes,
    connectMs: Math.round(connectMs),
    writesFullyDelivered: complete.length,
    missedDeliveries: perWrite.reduce((a, x) => a + (subscribers - x.delivered), 0),
    streamsEndedEarly: ended.count,
    streamErrors: ended.errors.slice(0, 3),
    ack: summary(perWrite.map((x) => x.ackMs)),
    lastFromAck: summary(complete.map((x) => x.lastFromAckMs)),
    lastFromStart: summary(complete.map((x) => x.lastFromStartMs)),
    firstFromAck: summary(complete.map((x) => x.firstFromAckMs)),
    everyDeliveryFromAck: summary(allFromAck),
    perWrite: perWrite.map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, r3(v)]))),
  })}\n`,
);
process.exit(0); // the delivery-timeout timers of the races above would otherwise hold the loop
