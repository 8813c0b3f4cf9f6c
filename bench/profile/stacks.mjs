// The heaviest call stacks through one function of a .cpuprofile (who calls it, and how much).
//   node bench/profile/stacks.mjs <file.cpuprofile> <functionName> [N=6]
import { readFileSync } from 'node:fs';

const [file, fn, n] = process.argv.slice(2);
if (!file || !fn) {
  console.error('usage: node bench/profile/stacks.mjs <file.cpuprofile> <functionName> [N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
const short = (node) =>
  `${node.callFrame.functionName || '(anonymous)'}@${node.callFrame.url.split('/').pop()}:${node.callFrame.lineNumber + 1}`;
const stacks = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
  const chain = [];
  for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) chain.push(byId.get(id));
  const at = chain.findIndex((node) => node.callFrame.functionName === fn);
  if (at < 0) continue;
  const key = chain
    .slice(at, at + 14)
    .map(short)
    .join(' < ');
  stacks.set(key, (stacks.get(key) ?? 0) + ms);
}
for (const [k, v] of [...stacks].sort((a, b) => b[1] - a[1]).slice(0, Number(n ?? 6))) {
  console.log(`${v.toFixed(1)} ms  ${k}\n`);
}
