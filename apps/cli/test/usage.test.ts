import { describe, expect, it } from 'vitest';
import { hasStackTrace, runCli } from '../src/testing.js';

// Exit codes: 0 done, 1 the operation failed, 2 bad usage; errors are one line, never a stack.

describe('flynn-host usage', () => {
  it('--help lists the commands and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['promote <addr>', 'demote [options] <addr>', 'raft [options]']) {
      expect(r.stdout).toContain(cmd);
    }
    expect(r.stdout).toContain('--discoverd <list>');
    expect(r.stdout).toContain('--cluster-key <key>');
  });

  it('demote --help shows -f, --force', async () => {
    const r = await runCli(['demote', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('-f, --force');
  });

  it.each([
    [[], /Usage: flynn-host/],
    [['bogus'], /unknown command 'bogus'/],
    [['promote'], /missing required argument 'addr'/],
    [['demote', '-f'], /missing required argument 'addr'/],
    [['demote', '-x', '127.0.0.2'], /unknown option '-x'/],
    [['promote', '127.0.0.2:notaport'], /invalid address "127.0.0.2:notaport"/],
    [['promote', '127.0.0.2', 'extra'], /too many arguments/],
    [['raft', 'extra'], /too many arguments/],
    [['raft', '--discoverd', '127.0.0.1:1111,127.0.0.2:x'], /invalid address "127.0.0.2:x"/],
    // `log` parses its plain arguments itself (fast path); anything else goes through commander
    [['log'], /missing required argument 'job-id'/],
    [['log', '--lines', 'x', 'h1-abc'], /want a non-negative integer/],
    [['log', '-n'], /argument missing/],
    [['log', '-x', 'h1-abc'], /unknown option '-x'/],
    [['log', 'h1-abc', 'h1-def'], /too many arguments/],
    [['log', '--discoverd', '127.0.0.2:x', 'h1-abc'], /invalid address "127.0.0.2:x"/],
    [['log', 'nodash'], /invalid job id "nodash"/],
  ])('%j exits 2 with a clear message', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(hasStackTrace(r.stderr)).toBe(false);
  });

  it('checks DISCOVERD from the environment like the flag', async () => {
    for (const args of [['raft'], ['log', '-n', '5', 'h1-abc']]) {
      const r = await runCli(args, { DISCOVERD: '127.0.0.2:x' });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/from env 'DISCOVERD' is invalid/);
    }
  });

  it('log: an unreachable discoverd is a one-line error, exit 1', async () => {
    const r = await runCli(['log', '--lines=10', 'h1-abc'], { DISCOVERD: '127.0.0.1:1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^flynn-host: no discoverd server answered: GET http:\/\/127\.0\.0\.1:1\/services\/flynn-host\/instances: connection refused/,
    );
    expect(hasStackTrace(r.stderr)).toBe(false);
  });
});
