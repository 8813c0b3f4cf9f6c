// Load generator for micro.mjs, forked so that autocannon never shares the proxy's event loop
// (nor its CPU count). Protocol: the parent sends {url, host, secs, conns}; this answers with a
// summary of autocannon's result, or {error}.
import autocannon from 'autocannon';

process.on('message', async ({ url, host, secs, conns }) => {
  try {
    const r = await autocannon({ url, headers: { host }, connections: conns, duration: secs });
    process.send({
      requests: r.requests.total,
      rps: r.requests.total / r.duration,
      latencyAvgMs: r.latency.average,
      latencyMaxMs: r.latency.max,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
    });
  } catch (err) {
    process.send({ error: String(err?.stack ?? err) });
  }
});
process.on('disconnect', () => process.exit(0));
