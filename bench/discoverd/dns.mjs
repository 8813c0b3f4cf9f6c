// DNS for bench/discoverd: dnsperf (Debian) sending one A query over UDP to one node's DNS port for
// a fixed time; dnsperf is its own process and stops by itself (-l).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function ensureDnsperf(log) {
  const which = () => spawnSync('which', ['dnsperf'], { encoding: 'utf8' }).stdout.trim();
  if (!which()) {
    log('dnsperf is missing: apt-get install -y dnsperf');
    const r = spawnSync('apt-get', ['install', '-y', 'dnsperf'], {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0 || !which()) throw new Error(`apt-get install dnsperf failed:\n${r.stderr}`);
    log(
      `installed ${execFileSync('dpkg-query', ['-W', 'dnsperf'], { encoding: 'utf8' }).trim()} from Debian`,
    );
  }
  const [, version] = execFileSync('dpkg-query', ['-W', 'dnsperf'], { encoding: 'utf8' }).trim().split('\t');
  return version;
}

/** Runs dnsperf for `seconds` and parses its summary. */
export function runDnsperf({ dir, server, port, name, type = 'A', seconds, outstanding = 100 }) {
  const file = join(dir, 'dnsperf-queries.txt');
  writeFileSync(file, `${name} ${type}\n`);
  const args = [
    '-s',
    server,
    '-p',
    String(port),
    '-d',
    file,
    '-l',
    String(seconds),
    '-q',
    String(outstanding),
    '-t',
    '1',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('dnsperf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 15) * 1000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (code !== 0) return reject(new Error(`dnsperf exited ${code}:\n${out}`));
      const num = (re) => {
        const m = re.exec(out);
        return m ? Number(m[1]) : null;
      };
      resolve({
        command: `dnsperf ${args.join(' ')}`,
        query: `${name} ${type}`,
        sent: num(/Queries sent:\s+(\d+)/),
        completed: num(/Queries completed:\s+(\d+)/),
        lost: num(/Queries lost:\s+(\d+)/),
        responseCodes: /Response codes:\s+(.*)/.exec(out)?.[1] ?? null,
        qps: num(/Queries per second:\s+([\d.]+)/),
        avgLatencyMs: (() => {
          const v = num(/Average Latency \(s\):\s+([\d.]+)/);
          return v === null ? null : Math.round(v * 1e6) / 1e3;
        })(),
        avgPacketSize: /Average packet size:\s+(.*)/.exec(out)?.[1] ?? null,
      });
    });
  });
}
