// The design card's named proxy library, measured so that the choice stays measured: http-proxy
// 1.18 in one process with a keep-alive agent (its defaults close every backend connection and
// measure 4× worse), forwarding everything to the backend.
// Usage: node http-proxy.mjs <listenPort> <backendAddr>
import http from 'node:http';
import httpProxy from 'http-proxy';

const [port, addr] = [Number(process.argv[2]), process.argv[3]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 128 });
const proxy = httpProxy.createProxyServer({ target: `http://${addr}`, agent });
proxy.on('error', (_err, _req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502);
  res?.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
