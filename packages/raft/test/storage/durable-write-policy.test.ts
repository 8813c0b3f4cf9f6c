import { describe, expect, it } from 'vitest';
import { DurableWritePolicy } from '../../src/storage/durable-write-policy.js';

describe('DurableWritePolicy', () => {
  it('writes on the event loop while appends are fast, on the threadpool for a while after a slow one', () => {
    let now = 0;
    const p = new DurableWritePolicy({ slowMs: 10, asyncForMs: 10_000, now: () => now });
    expect(p.synchronous).toBe(true);
    p.took(0.2);
    p.took(10);
    expect(p.synchronous).toBe(true);
    p.took(10.5);
    expect(p.synchronous).toBe(false);
    now = 9_999;
    expect(p.synchronous).toBe(false);
    now = 10_000;
    expect(p.synchronous).toBe(true);
  });

  it('always async when told so', () => {
    const p = new DurableWritePolicy({ alwaysAsync: true });
    expect(p.synchronous).toBe(false);
  });
});
