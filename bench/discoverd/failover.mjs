// Failover for bench/discoverd: SIGKILL the leader, then time the first write acknowledged by the
// new leader. One probe loop per node keeps registering new instances (300 ms timeout per hop,
// following 307s, 10 ms between attempts) until one gets a 200 from a live node. Between kills the
// killed node is restarted and must catch up (its applied index reaches the leader's) before the
// next kill. Runs in the bench's main process, which is not one of the servers.
import http from 'node:http';
import { instanceBody, md5Id, nowMs, request, sleep, summary, write } from './lib.mjs';

const SERVICE = 'failover';

async function appliedIndex(cluster, i) {
  const r = await request('GET', cluster.url(i, '/raft/leader'), { timeoutMs: 1000 });
  return { status: r.status, index: Number(r.headers['discoverd-index'] ?? -1), leader: r.text };
}

/** Waits until node i is serving, names a live leader, and has applied what that leader has. */
async function caughtUp(cluster, i, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const mine = await appliedIndex(cluster, i);
      const l = mine.status === 200 ? cluster.addrs.indexOf(JSON.parse(mine.leader).host) : -1;
      if (l >= 0 && l !== i && cluster.procs[l].running) {
        const theirs = await appliedIndex(cluster, l);
        if (mine.index >= theirs.index) return;
      }
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`node ${i + 1} did not catch up in ${timeoutMs} ms`);
}

export async function measureFailover(cluster, { kills, log, tag }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let n = 0;
  const newAddr = () => {
    const i = n++;
    return `10.${tag}.${(i >> 8) & 255}.${i & 255}:7000`;
  };
  let leaderIdx = await cluster.leader(20_000);
  const r0 = await write('PUT', cluster.url(leaderIdx, `/services/${SERVICE}`), { body: '{}', agent });
  if (r0.status !== 200) throw new Error(`create service: ${r0.status} ${r0.text}`);
  const samples = [];
  try {
    for (let k = 0; k < kills; k++) {
      leaderIdx = await cluster.leader(20_000);
      // A write before the kill, so every node has a warm connection and the cluster is idle.
      const pre = newAddr();
      await write('PUT', cluster.url(leaderIdx, `/services/${SERVICE}/instances/${md5Id('tcp', pre)}`), {
        body: instanceBody(pre),
        agent,
      });
      const victim = cluster.procs[leaderIdx];
      const t0 = nowMs();
      const gone = victim.kill('SIGKILL');
      let winner;
      let attempts = 0;
      const deadline = t0 + 20_000;
      await Promise.all(
        cluster.addrs.map(async (_, i) => {
          while (!winner && nowMs() < deadline) {
            const addr = newAddr();
            attempts++;
            try {
              const r = await write(
                'PUT',
                cluster.url(i, `/services/${SERVICE}/instances/${md5Id('tcp', addr)}`),
                {
                  body: instanceBody(addr),
                  agent,
                  timeoutMs: 300,
                },
              );
              if (r.status === 200 && !winner && !r.url.includes(cluster.addrs[leaderIdx])) {
                winner = { ms: nowMs() - t0, via: i, at: new URL(r.url).host };
                return;
              }
            } catch {
              // refused, reset or timed out: try again
            }
            await sleep(10);
          }
        }),
      );
      await gone;
      if (!winner) throw new Error(`kill ${k + 1}: no acknowledged write within 20 s`);
      const sample = {
        ms: Math.round(winner.ms * 10) / 10,
        killed: cluster.addrs[leaderIdx],
        newLeader: winner.at,
        attempts,
      };
      samples.push(sample);
      log(`  kill ${k + 1}/${kills}: ${sample.ms} ms (${sample.killed} → ${sample.newLeader})`);
      // Restart the victim and let it catch up before the next kill.
      victim.start();
      await caughtUp(cluster, leaderIdx);
      await sleep(200);
    }
  } finally {
    agent.destroy();
  }
  return { kills: samples.length, ...summary(samples.map((s) => s.ms)), samples };
}
