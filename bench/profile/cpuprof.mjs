// A CPU profile of any Node process, for runs where `--cpu-prof` cannot be passed (Node 20
// refuses it in NODE_OPTIONS, and the benches spawn their daemons themselves):
//   NODE_OPTIONS="--import /abs/path/bench/profile/cpuprof.mjs" CPUPROF_DIR=/tmp/prof <command>
// Every Node process started with that environment (cluster workers included) writes
// <script>-<pid>.cpuprofile into CPUPROF_DIR when it exits or on SIGUSR2 (for daemons that end by a
// signal). CPUPROF_INTERVAL sets the sampling interval in µs (default 200; the profiler costs
// CPU, so compare profiles, not the figures of a profiled run).
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const dir = process.env.CPUPROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.CPUPROF_INTERVAL ?? 200) });
  session.post('Profiler.start');
  let written = false;
  const write = () => {
    if (written) return;
    written = true;
    // The in-process inspector answers synchronously, so this also works from 'exit'.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      const name = `${process.argv[1]?.split('/').pop() ?? 'node'}-${process.pid}.cpuprofile`;
      writeFileSync(`${dir}/${name}`, JSON.stringify(result.profile));
    });
  };
  process.on('exit', write);
  process.on('SIGUSR2', write);
}
