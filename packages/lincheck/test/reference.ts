import { type Operation, registerStep } from '../src/index.js';

/**
 * Brute-force reference checker for tiny histories (test oracle), written straight from the
 * definition: try every order of ops that respects real time, where each pending op may be
 * placed anywhere after its call or left out, and compare outputs against the register.
 */
export function bruteForceLinearizable(ops: Operation[]): boolean {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  for (const keyOps of byKey.values()) if (!keyOk(keyOps)) return false;
  return true;
}

function keyOk(ops: Operation[]): boolean {
  const n = ops.length;
  if (n > 20) throw new Error('too large for brute force');
  const done = (mask: number, i: number) => (mask & (1 << i)) !== 0;
  const pending = (op: Operation) => op.ret === undefined;
  const failed = new Set<string>();

  const go = (mask: number, value: string | null): boolean => {
    if (ops.every((op, i) => pending(op) || done(mask, i))) return true;
    const memo = `${mask}:${value}`;
    if (failed.has(memo)) return false;
    for (let i = 0; i < n; i++) {
      if (done(mask, i)) continue;
      const op = ops[i];
      // op may go next only if no other unplaced op returned strictly before op was called
      if (ops.some((o, j) => j !== i && !done(mask, j) && o.ret !== undefined && o.ret < op.call)) continue;
      const step = registerStep(value, op.kind, op.input);
      if (!pending(op)) {
        if (op.kind === 'read' && step.output.value !== op.output?.value) continue;
        if (op.kind === 'cas' && step.output.ok !== op.output?.ok) continue;
      }
      if (go(mask | (1 << i), step.next)) return true;
    }
    failed.add(memo);
    return false;
  };
  return go(0, null);
}
