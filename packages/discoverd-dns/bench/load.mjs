// A small UDP load loop: keeps `window` A queries in flight from one socket for `seconds` and
// prints answered queries per second. Run against bench/serve.mjs in another process:
//   node packages/discoverd-dns/bench/load.mjs <port> [seconds=10] [window=64] [name=web.discoverd]
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

const port = Number(process.argv[2]);
const seconds = Number(process.argv[3] ?? 10);
const window = Number(process.argv[4] ?? 64);
const name = process.argv[5] ?? 'web.discoverd';
if (!port) throw new Error('usage: load.mjs <port> [seconds] [window] [name]');

const sock = dgram.createSocket('udp4');
const templates = Array.from({ length: 65536 }, (_, id) =>
  id < window * 4
    ? dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name }] })
    : null,
);
let nextId = 0;
let answered = 0;
let bad = 0;
const inFlight = new Map();
const send = () => {
  const id = nextId;
  nextId = (nextId + 1) % (window * 4);
  inFlight.set(id, performance.now());
  sock.send(templates[id]);
};
sock.on('message', (msg) => {
  const id = msg.readUInt16BE(0);
  if (!inFlight.delete(id)) return;
  if ((msg[3] & 0xf) !== 0 || msg.readUInt16BE(6) === 0) bad++;
  answered++;
  if (running) send();
});
let running = true;
sock.connect(port, '127.0.0.1', () => {
  const start = performance.now();
  for (let i = 0; i < window; i++) send();
  // Re-send lost queries (UDP may drop under load) so the window stays full.
  const refill = setInterval(() => {
    const now = performance.now();
    for (const [id, t] of inFlight)
      if (now - t > 1000) {
        inFlight.delete(id);
        if (running) send();
      }
  }, 200);
  setTimeout(() => {
    running = false;
    clearInterval(refill);
    const secs = (performance.now() - start) / 1000;
    console.log(JSON.stringify({ qps: Math.round(answered / secs), answered, bad, seconds: secs, window }));
    sock.close();
  }, seconds * 1000);
});
