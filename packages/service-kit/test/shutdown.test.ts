import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { handleSignals, ShutdownRegistry } from '../src/index.js';
import { waitFor } from './helpers.js';

describe('ShutdownRegistry', () => {
  it('runs handlers once, newest first, waiting for each', async () => {
    const reg = new ShutdownRegistry();
    const order: string[] = [];
    reg.onShutdown(() => {
      order.push('store');
    });
    reg.onShutdown(async () => {
      await new Promise((r) => setImmediate(r));
      order.push('server');
    });
    reg.onShutdown(() => {
      order.push('heartbeat');
    });
    expect(reg.started).toBe(false);
    const [a, b] = await Promise.all([reg.shutdown(), reg.shutdown()]);
    expect(order).toEqual(['heartbeat', 'server', 'store']);
    expect(a).toBe(b);
    expect(a.failed).toEqual([]);
    await reg.shutdown();
    expect(order).toHaveLength(3);
    expect(reg.started).toBe(true);
  });

  it('keeps going past a handler that throws or hangs', async () => {
    const reg = new ShutdownRegistry({ timeoutMs: 50 });
    const order: string[] = [];
    reg.onShutdown(() => {
      order.push('first');
    });
    reg.onShutdown(() => new Promise(() => {}), { name: 'hangs' });
    reg.onShutdown(
      () => {
        throw new Error('boom');
      },
      { name: 'throws' },
    );
    const { failed } = await reg.shutdown();
    expect(failed).toEqual(['throws', 'hangs']);
    expect(order).toEqual(['first']);
  });

  it('lets a handler be unregistered', async () => {
    const reg = new ShutdownRegistry();
    const calls: number[] = [];
    reg.onShutdown(() => calls.push(1));
    const off = reg.onShutdown(() => calls.push(2));
    off();
    await reg.shutdown();
    expect(calls).toEqual([1]);
  });

  it('exits after the first signal and at once on a second', async () => {
    const reg = new ShutdownRegistry();
    let release: (() => void) | undefined;
    reg.onShutdown(
      () =>
        new Promise<void>((r) => {
          release = r;
        }),
    );
    const exits: number[] = [];
    // A private signal name keeps the test away from the process's real SIGINT/SIGTERM handling.
    const off = handleSignals(reg, { signals: ['SIGUSR2'], exit: (code) => exits.push(code) });
    try {
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(reg.started).toBe(true);
      process.emit('SIGUSR2', 'SIGUSR2');
      expect(exits).toEqual([128 + constants.signals.SIGUSR2]);
      await waitFor(() => release !== undefined);
      release!();
      await waitFor(() => exits.length === 2);
      expect(exits).toEqual([128 + constants.signals.SIGUSR2, 0]);
    } finally {
      off();
    }
  });
});
