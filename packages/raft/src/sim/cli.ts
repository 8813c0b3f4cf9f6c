import { runSimulation, SIM_BUGS, type SimBug } from './simulator.js';

// `npm run sim -- --seed S --nodes 3|5 --ops N --faults all [--bug NAME] [--seeds K]`
// Prints one JSON summary per seed (the last field is "linearizable") and exits 1 on any violation.

function usage(msg?: string): never {
  if (msg) process.stderr.write(`sim: ${msg}\n`);
  process.stderr.write(
    `usage: sim --seed S [--seeds K] --nodes 3|5 --ops N --faults all|none [--bug ${SIM_BUGS.join('|')}] [--quiet]\n`,
  );
  process.exit(2);
}

function main(argv: string[]): void {
  let seed = 1;
  let seeds = 1;
  let nodes = 3;
  let ops = 1500;
  let faults = true;
  let bug: SimBug | undefined;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    const int = (v: string) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) usage(`${a}: not a whole number: ${v}`);
      return n;
    };
    switch (a) {
      case '--seed':
        seed = int(next());
        break;
      case '--seeds':
        seeds = int(next());
        break;
      case '--nodes':
        nodes = int(next());
        if (nodes < 1 || nodes > 9) usage('--nodes must be 1..9');
        break;
      case '--ops':
        ops = int(next());
        break;
      case '--faults': {
        const v = next();
        if (v !== 'all' && v !== 'none') usage('--faults takes all or none');
        faults = v === 'all';
        break;
      }
      case '--bug': {
        const v = next() as SimBug;
        if (!SIM_BUGS.includes(v)) usage(`unknown bug ${v}`);
        bug = v;
        break;
      }
      case '--quiet':
        quiet = true;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  let failed = 0;
  const totals: Record<string, number> = {};
  const started = Date.now();
  for (let s = seed; s < seed + seeds; s++) {
    const t0 = Date.now();
    const summary = runSimulation({ seed: s, nodes, ops, faults, bug });
    const ok = summary.violations.length === 0 && summary.linearizable;
    if (!ok) failed++;
    for (const [k, v] of Object.entries(summary.injected)) totals[k] = (totals[k] ?? 0) + v;
    if (!quiet || !ok) process.stdout.write(`${JSON.stringify({ ...summary, wallMs: Date.now() - t0 })}\n`);
  }
  if (seeds > 1) {
    process.stdout.write(
      `${JSON.stringify({ seeds, from: seed, nodes, ops, failed, wallMs: Date.now() - started, totals, linearizable: failed === 0 })}\n`,
    );
  }
  process.exit(failed > 0 ? 1 : 0);
}

main(process.argv.slice(2));
