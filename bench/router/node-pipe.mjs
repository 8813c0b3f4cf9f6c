// Stand-in Node proxy: @flynn-edge/router-tcp in a process of its own, one TCP route from
// `listenPort` to the backend. For HTTP it is the "raw Node net pipe" anchor (no HTTP parsing);
// for the TCP scenario it is exactly the router's TCP route code path.
// Usage: node node-pipe.mjs <listenPort> <backendAddr>
import { TcpRouteProxy } from '@flynn-edge/router-tcp';

const [port, addr] = [Number(process.argv[2]), process.argv[3]];
const proxy = new TcpRouteProxy({ host: '127.0.0.1', range: { start: port, end: port } });
await proxy.start();
const backends = [{ addr }];
await proxy.setRoute(port, () => backends);
process.on('SIGTERM', () => proxy.close().then(() => process.exit(0)));
