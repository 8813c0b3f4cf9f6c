// Micro benchmark: HttpProxy in-process against a tiny `net` backend that answers every request
// with a 2-byte keep-alive response; autocannon (load.mjs) drives the proxy. Prints req/s and this
// process's CPU µs per request; the backend and the generator run in child processes so their CPU
// is not counted. Node alone: no root, no apt (bench:router keeps wrk for the nginx/HAProxy anchors).
// Usage: npm run build && node bench/micro.mjs [seconds] [connections]
// Env: MODE=proxy|pipe|both, ROUNDS=n, METRICS=1 (record into prom-client as the router does),
// PROXY_DIST=/abs/path/to/dist/index.js (another build of this package, for A/B runs).
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';

const { createProxyMetrics, HttpProxy } = await import(process.env.PROXY_DIST ?? '../dist/index.js');

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
  process.on('disconnect', () => process.exit(0)); // never outlive a crashed parent
} else {
  const load = startLoad();
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
    // METRICS=1: record requests in a prom-client registry as the router does.
    metrics: process.env.METRICS === '1' ? createProxyMetrics(new Registry()) : undefined,
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
  try {
    for (let round = 0; round < rounds; round++) {
      const cpuPerReq = {};
      for (const k of kinds) {
        pipe = k;
        await load.run(url, 2, conns); // warm up the JIT (and the pool)
        const cpu0 = process.cpuUsage();
        const r = await load.run(url, secs, conns);
        const cpu = process.cpuUsage(cpu0);
        const reqs = r.requests || 1;
        const us = (cpu.user + cpu.system) / reqs;
        cpuPerReq[pipe ? 'pipe' : 'proxy'] = us;
        const errors =
          Object.entries({ errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx })
            .filter(([, n]) => n > 0)
            .map(([name, n]) => `${name} ${n}`)
            .join(', ') || 'none';
        console.log(
          `${(pipe ? 'raw net pipe' : 'HttpProxy').padEnd(12)} ${r.rps.toFixed(0).padStart(6)} req/s  ` +
            `CPU ${us.toFixed(2)} µs/req (user ${(cpu.user / reqs).toFixed(2)}, sys ${(cpu.system / reqs).toFixed(2)})  ` +
            `latency avg ${r.latencyAvgMs.toFixed(2)}ms max ${r.latencyMaxMs}ms  errors: ${errors}`,
        );
      }
      if (cpuPerReq.proxy && cpuPerReq.pipe) {
        console.log(`proxy/pipe CPU per request: ${(cpuPerReq.proxy / cpuPerReq.pipe).toFixed(2)}x`);
      }
    }
  } finally {
    server.close();
    await proxy.close(1000);
    child.kill();
    load.stop();
  }
}

// One long-lived generator process; runs are sequential, one request message at a time.
function startLoad() {
  const gen = fork(fileURLToPath(new URL('./load.mjs', import.meta.url)));
  let pending;
  let exited;
  gen.on('message', (m) => {
    const p = pending;
    pending = undefined;
    if (m.error) p?.reject(new Error(`autocannon failed: ${m.error}`));
    else p?.resolve(m);
  });
  gen.on('exit', (code) => {
    exited = new Error(`load generator exited (${code}); is autocannon installed? (npm install)`);
    pending?.reject(exited);
    pending = undefined;
  });
  return {
    run: (url, secs, conns) =>
      new Promise((resolve, reject) => {
        if (exited) return reject(exited);
        pending = { resolve, reject };
        gen.send({ url, host: 'bench.test', secs, conns });
      }),
    stop: () => {
      if (gen.connected) gen.disconnect();
    },
  };
}
