// Micro benchmark: HttpProxy in-process against a tiny `net` backend that answers every request
// with a 2-byte keep-alive response; wrk drives the proxy. Prints req/s and the proxy process's
// CPU µs per request (the backend runs in a child process so its CPU is not counted).
// Usage: npm run build && node bench/micro.mjs [seconds] [connections]
import { execFile, fork, spawnSync } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { HttpProxy } from '../dist/index.js';

const secs = Number(process.argv[2] ?? 5);
const conns = Number(process.argv[3] ?? 50);

if (process.argv[2] === 'backend') {
  const RES = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok');
  const srv = net.createServer((s) => {
    s.setNoDelay(true);
    let pending = '';
    s.on('data', (d) => {
      pending += d.toString('latin1');
      let i = pending.indexOf('\r\n\r\n');
      let n = 0;
      while (i >= 0) {
        n++;
        pending = pending.slice(i + 4);
        i = pending.indexOf('\r\n\r\n');
      }
      if (n === 1) s.write(RES);
      else if (n > 1) s.write(Buffer.concat(Array(n).fill(RES)));
    });
    s.on('error', () => {});
  });
  srv.listen(0, '127.0.0.1', () => process.send(srv.address().port));
} else {
  if (spawnSync('which', ['wrk']).status !== 0) {
    console.error('wrk is not installed (apt-get install -y wrk)');
    process.exit(1);
  }
  const child = fork(fileURLToPath(import.meta.url), ['backend']);
  const port = await new Promise((r) => child.once('message', r));
  const route = {
    id: 'r1',
    type: 'http',
    domain: 'bench.test',
    path: '/',
    service: 'bench',
    sticky: false,
    leader: false,
    drain_backends: false,
    disable_keep_alives: false,
  };
  const resolved = { route, backends: [{ addr: `127.0.0.1:${port}` }] };
  const proxy = new HttpProxy({
    resolver: { resolve: () => resolved },
    cookieKey: Buffer.alloc(32, 1),
    hostName: 'bench-host',
  });
  // Alternates HttpProxy with a raw `net` pipe (no HTTP parsing) on the same machine state, so a
  // loaded machine shows up in both; MODE=proxy or MODE=pipe runs only one. ROUNDS=n repeats.
  const mode = process.env.MODE ?? 'both';
  const rounds = Number(process.env.ROUNDS ?? 1);
  let pipe = false;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    if (!pipe) return proxy.handleConnection(s, { listenerPort: 80, scheme: 'http' });
    const b = net.connect({ port, host: '127.0.0.1', noDelay: true });
    s.setNoDelay(true);
    s.pipe(b).pipe(s);
    s.on('error', () => b.destroy());
    b.on('error', () => s.destroy());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const kinds = mode === 'both' ? [false, true] : [mode === 'pipe'];
  for (let round = 0; round < rounds; round++) {
    for (const k of kinds) {
      pipe = k;
      await runWrk(url, 2, conns); // warm up the JIT (and the pool)
      const cpu0 = process.cpuUsage();
      const out = await runWrk(url, secs, conns);
      const cpu = process.cpuUsage(cpu0);
      const reqs = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0] ?? 'none';
      const lat = /Latency\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
      console.log(
        `${(pipe ? 'raw net pipe' : 'HttpProxy').padEnd(12)} ${rps.toFixed(0).padStart(6)} req/s  ` +
          `CPU ${((cpu.user + cpu.system) / reqs).toFixed(2)} µs/req (user ${(cpu.user / reqs).toFixed(2)}, ` +
          `sys ${(cpu.system / reqs).toFixed(2)})  latency avg ${lat?.[1]} max ${lat?.[3]}  errors: ${errors}`,
      );
    }
  }
  server.close();
  await proxy.close(1000);
  child.kill();
}

function runWrk(url, s, c) {
  // Asynchronous: the proxy runs on this event loop while wrk drives it.
  return new Promise((resolve, reject) => {
    execFile('wrk', ['-t1', `-c${c}`, `-d${s}s`, '-H', 'Host: bench.test', url], (err, stdout, stderr) => {
      if (err) reject(new Error(stderr || err.message));
      else resolve(stdout);
    });
  });
}
