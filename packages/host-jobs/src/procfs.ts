import { readFileSync } from 'node:fs';

// What the supervisor reads from /proc/<pid>/stat: the state letter, the process group and the
// start time (clock ticks since boot). pid + start time names one process for good: a pid that
// was reused by another process has a different start time.

export interface ProcStat {
  pid: number;
  /** R, S, D, Z (zombie), T, … */
  state: string;
  pgrp: number;
  /** Field 22: start time in clock ticks after boot. */
  startTime: number;
}

/** Parses one /proc/<pid>/stat line; undefined when it is malformed. */
export function parseProcStat(text: string): ProcStat | undefined {
  // comm (field 2) is in parentheses and may itself hold spaces and parentheses.
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] = field 3 (state), rest[2] = field 5 (pgrp), rest[19] = field 22 (starttime).
  if (rest.length < 20) return undefined;
  const pgrp = Number(rest[2]);
  const startTime = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(pgrp) || !Number.isFinite(startTime)) return undefined;
  return { pid, state: rest[0], pgrp, startTime };
}

/** The stat of a live pid, or undefined when there is no such process. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Whether the process `pid` that started at `startTime` still runs: present, not a zombie, same
 * start time (a different one means the pid now names another process).
 */
export function isSameProcessAlive(pid: number, startTime: number | undefined): boolean {
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return startTime === undefined || st.startTime === startTime;
}
