import { describe, expect, it } from 'vitest';
import { isSameProcessAlive, parseProcStat, readProcStat } from '../src/procfs.js';

describe('/proc/<pid>/stat', () => {
  it('parses a comm with spaces and parentheses', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 3));
    rest[0] = 'S';
    rest[2] = '4242';
    rest[19] = '987654';
    const st = parseProcStat(`4242 (a (b) c) ${rest.join(' ')}`);
    expect(st).toEqual({ pid: 4242, state: 'S', pgrp: 4242, startTime: 987654 });
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S 0')).toBeUndefined();
  });

  it('names this process by pid and start time', () => {
    const me = readProcStat(process.pid)!;
    expect(me.pid).toBe(process.pid);
    expect(isSameProcessAlive(process.pid, me.startTime)).toBe(true);
    expect(isSameProcessAlive(process.pid, me.startTime + 1)).toBe(false);
    expect(readProcStat(2 ** 22 + 1)).toBeUndefined();
  });
});
