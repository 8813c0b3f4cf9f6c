import { describe, expect, it } from 'vitest';
import { DiscoverdState, encodeCommand } from '../src/index.js';
import { expectOk, Harness } from './helpers.js';

const enc = (type: number, json: string) => new Uint8Array([type, ...new TextEncoder().encode(json)]);

describe('apply with garbage', () => {
  it('returns unknown_error results and never throws', () => {
    const h = new Harness();
    h.addService('web');
    const before = h.state.snapshot();
    const garbage = [
      new Uint8Array(),
      new Uint8Array([200]),
      new Uint8Array([0]),
      enc(0, 'not json'),
      enc(0, '{"Service":1}'),
      enc(4, '{"Service":"web","Instance":null}'),
      enc(16, '{"Success":[{"Op":"put"}]}'),
      new Uint8Array([2, 0xc3, 0x28]), // invalid UTF-8
      null as unknown as Uint8Array,
    ];
    for (const g of garbage) {
      const r = h.raw(g);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error.code).toBe('unknown_error');
        expect(r.error.message).toMatch(/^discoverd: cannot decode command: /);
      }
      expect(r.events).toEqual([]);
      expect(r.kvEvents).toEqual([]);
    }
    expect(h.state.snapshot()).toEqual(before);
    // the garbage entries still consumed their indexes
    expect(h.state.appliedIndex()).toBe(h.index);
    expectOk(h.addService('db'));
  });

  it('refuses bad or repeated indexes without changing anything', () => {
    const s = new DiscoverdState();
    const add = encodeCommand({ type: 'addService', Service: 'web', Config: { leader_type: 'oldest' } });
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(s.apply(bad, add)).toMatchObject({
        ok: false,
        error: { code: 'unknown_error', message: expect.stringMatching(/is not a positive integer/) },
      });
    }
    expect(s.apply(5, add).ok).toBe(true);
    expect(s.apply(5, add)).toMatchObject({
      ok: false,
      error: { code: 'unknown_error', message: 'discoverd: log index 5 is already applied (at 5)' },
    });
    expect(s.apply(3, add).ok).toBe(false);
    expect(s.apply(6, add)).toMatchObject({ ok: false, error: { code: 'object_exists' } });
    expect(s.appliedIndex()).toBe(6);
  });

  it('a failed write still advances the applied index', () => {
    const h = new Harness();
    h.removeService('nope');
    expect(h.state.appliedIndex()).toBe(1);
  });
});
