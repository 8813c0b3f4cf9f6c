import { describe, expect, it } from 'vitest';
import { DiscoverdState, encodeCommand, type KvTxnResult } from '../src/index.js';

describe('kv compare by value', () => {
  it('holds only when the key exists with exactly that value', () => {
    const s = new DiscoverdState();
    const txn = (index: number, value: string, next: string) =>
      s.apply(
        index,
        encodeCommand({
          type: 'kvTxn',
          Compare: [{ Key: 'k', Op: 'value', Value: value }],
          Success: [{ Op: 'put', Key: 'k', Value: next }],
          Failure: [],
        }),
      );
    const absent = txn(1, '', 'x');
    expect(absent.ok && (absent.value as KvTxnResult).succeeded).toBe(false);
    s.apply(
      2,
      encodeCommand({
        type: 'kvTxn',
        Compare: [],
        Success: [{ Op: 'put', Key: 'k', Value: 'a' }],
        Failure: [],
      }),
    );
    const wrong = txn(3, 'b', 'c');
    expect(wrong.ok && (wrong.value as KvTxnResult).succeeded).toBe(false);
    const right = txn(4, 'a', 'c');
    expect(right.ok && (right.value as KvTxnResult).succeeded).toBe(true);
    expect(s.kvGet('k')?.value).toBe('c');
  });
});
