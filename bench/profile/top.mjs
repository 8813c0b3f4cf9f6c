// Summarises a .cpuprofile: busy and idle time, then the functions by self time and by inclusive
// time (a function counted once per sample however deep it recurses).
//   node bench/profile/top.mjs <file.cpuprofile> [N=30]
import { readFileSync } from 'node:fs';

const [file, n] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile/top.mjs <file.cpuprofile> [N]');
  process.exit(2);
}
const limit = Number(n ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
const label = (node) => {
  const f = node.callFrame;
  const where = f.url.replace(/.*\/(node_modules|packages|apps)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
};
const self = new Map();
const inclusive = new Map();
let busy = 0;
let idle = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
  const leaf = byId.get(profile.samples[i]);
  if (leaf.callFrame.functionName === '(idle)') {
    idle += ms;
    continue;
  }
  busy += ms;
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + ms);
  const seen = new Set();
  for (let id = leaf.id; id !== undefined; id = parent.get(id)) {
    const key = label(byId.get(id));
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
  }
}
const table = (m) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([k, v]) => `${v.toFixed(1).padStart(9)} ${((100 * v) / busy).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
console.log(`${file}: busy ${busy.toFixed(0)} ms, idle ${idle.toFixed(0)} ms`);
console.log(`--- self (ms, share of busy)\n${table(self)}`);
console.log(`--- inclusive\n${table(inclusive)}`);
