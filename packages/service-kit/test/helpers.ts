import { waitFor as poll } from '@flynn-edge/process-kit';
/** process-kit's waitFor with this file's positional arguments. */
export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  await poll(cond, { timeoutMs, what, intervalMs: 5 });
}
