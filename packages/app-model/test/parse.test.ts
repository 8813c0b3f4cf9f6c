import { describe, expect, it } from 'vitest';
import {
  AppModelError,
  checkAppName,
  durationMs,
  parseEnvPairs,
  parseScaleArgs,
  placeJobs,
} from '../src/index.js';

describe('app names (Flynn: ^[a-z\\d]+(-[a-z\\d]+)*$, at most 100)', () => {
  it.each(['a', 'demo', 'my-app-2', 'x'.repeat(100)])('takes %s', (n) =>
    expect(() => checkAppName(n)).not.toThrow(),
  );
  it.each(['', 'Demo', '-a', 'a-', 'a--b', 'a_b', 'a.b', 'x'.repeat(101), 'é'])(
    "refuses %j with Flynn's message",
    (n) => {
      expect(() => checkAppName(n)).toThrow('validation_error: name is invalid');
    },
  );
});

describe('scale arguments', () => {
  it('parses TYPE=N', () => expect(parseScaleArgs(['web=2', 'worker=0'])).toEqual({ web: 2, worker: 0 }));
  it.each([
    ['web', 'ERROR: scale args must be of the form <typ>=<spec>'],
    ['=2', 'ERROR: scale args must be of the form <typ>=<spec>'],
    ['web=x', 'ERROR: could not parse quantity in "web=x"'],
    ['web=1.5', 'ERROR: could not parse quantity in "web=1.5"'],
    ['web=-1', 'ERROR: process quantities cannot be negative in "web=-1"'],
  ])('refuses %s (exit 2)', (arg, message) => {
    let err: unknown;
    try {
      parseScaleArgs([arg]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppModelError);
    expect((err as AppModelError).message).toBe(message);
    expect((err as AppModelError).exitCode).toBe(2);
  });
});

describe('env pairs', () => {
  it('splits at the first =', () =>
    expect(parseEnvPairs(['A=1', 'B=x=y', 'C='])).toEqual({ A: '1', B: 'x=y', C: '' }));
  it.each(['A', '=1'])('refuses %j', (s) =>
    expect(() => parseEnvPairs([s])).toThrow(`invalid var format: ${JSON.stringify(s)}`),
  );
});

describe('Go durations', () => {
  it.each([
    [undefined, 7],
    [250, 250],
    ['1.5s', 1500],
    ['300ms', 300],
    ['1m30s', 90_000],
  ] as const)('%j → %d ms', (v, ms) => expect(durationMs(v, 7)).toBe(ms));
  it.each(['', '5', '1x', 's'])('refuses %j', (v) =>
    expect(() => durationMs(v, 0)).toThrow('invalid duration'),
  );
});

describe('placement', () => {
  const hosts = ['h1', 'h2', 'h3'].map((id) => ({ id, addr: `${id}:1113` }));
  const job = (host: string, app: string, type: string) => ({
    host: hosts.find((h) => h.id === host)!,
    job: { id: `${host}-x`, app: { id: app, name: app }, processType: type } as never,
  });
  it('spreads the jobs of a type before doubling up', () => {
    expect(placeJobs('web', 4, hosts, [], 'a').map((h) => h.id)).toEqual(['h1', 'h2', 'h3', 'h1']);
  });
  it('prefers the least-loaded hosts', () => {
    const live = [job('h1', 'sys', 'app'), job('h1', 'sys', 'x'), job('h2', 'sys', 'app')];
    expect(placeJobs('web', 2, hosts, live, 'a').map((h) => h.id)).toEqual(['h3', 'h2']);
  });
  it('counts jobs of the same app and type first', () => {
    const live = [job('h3', 'a', 'web'), job('h1', 'sys', 'app'), job('h2', 'sys', 'app')];
    expect(placeJobs('web', 1, hosts, live, 'a').map((h) => h.id)).toEqual(['h1']);
  });
});
