// Starts a DNS server for manual checks and the load measurement (see README):
//   npm run build -w @flynn-edge/discoverd-dns && node packages/discoverd-dns/bench/serve.mjs [addr] [instances]
// Prints "listening <host:port>" and serves until killed.
import { DnsServer } from '../dist/index.js';

const addr = process.argv[2] ?? '127.0.0.1:0';
const count = Number(process.argv[3] ?? 5);
const instances = Array.from({ length: count }, (_, i) => ({
  id: `${i}`.padStart(32, 'a'),
  addr: `127.0.${Math.floor(i / 250)}.${(i % 250) + 1}:${5000 + i}`,
  proto: 'tcp',
}));
const data = {
  instances: (s) => (s === 'web' ? instances : undefined),
  leader: (s) => (s === 'web' ? instances[0] : undefined),
};
const recursors = process.env.RECURSORS ? process.env.RECURSORS.split(',') : [];
const srv = await DnsServer.start({ addr, data, recursors, onError: (e) => console.error(e) });
const { udp } = srv.address();
console.log(`listening ${udp.address}:${udp.port}`);
const stop = async () => {
  console.error(JSON.stringify(srv.stats()));
  await srv.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
