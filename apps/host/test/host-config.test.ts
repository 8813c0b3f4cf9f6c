import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  encodeHostConfig,
  HostConfigError,
  loadHostConfig,
  mergeHostConfig,
  parseHostConfig,
} from '../src/host-config.js';

// host.json: what `flynn-host init` writes (Flynn's bytes: Go's json.MarshalIndent with a tab, a
// newline, empty fields left out, <>& escaped) and what the daemon reads back.

const CLI = fileURLToPath(new URL('../../cli/bin/flynn-host.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'host-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function flynnHost(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Go's output for config.Config, worked out from encoding/json (MarshalIndent(c, "", "\t")):
// Flynn's init with no options writes "{}\n" (Env is an empty map: omitempty).
const GO_EMPTY = '{}\n';
const GO_ARGS =
  '{\n\t"args": [\n\t\t"--external-ip",\n\t\t"10.0.0.2",\n\t\t"--peer-ips",\n\t\t"10.0.0.1,10.0.0.3"\n\t]\n}\n';
const GO_ARGS_ENV =
  '{\n\t"args": [\n\t\t"--external-ip",\n\t\t"10.0.0.2"\n\t],\n\t"env": {\n\t\t"A": "x\\u003cy\\u003e\\u0026z",\n\t\t"CLUSTER_KEY": "k"\n\t}\n}\n';

describe('host.json bytes', () => {
  it("are Go's", () => {
    expect(encodeHostConfig({})).toBe(GO_EMPTY);
    expect(encodeHostConfig({ args: [], env: {} })).toBe(GO_EMPTY);
    expect(encodeHostConfig({ args: ['--external-ip', '10.0.0.2', '--peer-ips', '10.0.0.1,10.0.0.3'] })).toBe(
      GO_ARGS,
    );
    // Map keys sorted; <, >, & escaped.
    expect(
      encodeHostConfig({ args: ['--external-ip', '10.0.0.2'], env: { CLUSTER_KEY: 'k', A: 'x<y>&z' } }),
    ).toBe(GO_ARGS_ENV);
  });

  it('flynn-host init writes them: Flynn’s args order, 0644; with $CLUSTER_KEY an env and 0600', () => {
    const plain = join(dir, 'plain.json');
    expect(flynnHost(['init', '--file', plain])).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(plain, 'utf8')).toBe(GO_EMPTY);
    expect(statSync(plain).mode & 0o777).toBe(0o644);

    const joined = join(dir, 'joined.json');
    const r = flynnHost([
      'init',
      '--peer-ips=10.0.0.1,10.0.0.3',
      '--external-ip',
      '10.0.0.2',
      '--file',
      joined,
    ]);
    expect(r.code).toBe(0);
    expect(readFileSync(joined, 'utf8')).toBe(GO_ARGS);

    const keyed = join(dir, 'keyed.json');
    writeFileSync(keyed, 'old', { mode: 0o644 });
    expect(flynnHost(['init', '--external-ip', '10.0.0.2', '--file', keyed], { CLUSTER_KEY: 'k' }).code).toBe(
      0,
    );
    expect(readFileSync(keyed, 'utf8')).toBe(
      '{\n\t"args": [\n\t\t"--external-ip",\n\t\t"10.0.0.2"\n\t],\n\t"env": {\n\t\t"CLUSTER_KEY": "k"\n\t}\n}\n',
    );
    expect(statSync(keyed).mode & 0o777).toBe(0o600);
  });

  it('flynn-host init: discovery is refused (exit 2), an unwritable file is one line (exit 1)', () => {
    const f = join(dir, 'never.json');
    for (const args of [['--discovery', 'https://discovery.flynn.io/clusters/x'], ['--init-discovery']]) {
      const r = flynnHost(['init', ...args, '--file', f]);
      expect(r).toMatchObject({ code: 2, stdout: '' });
      expect(r.stderr).toBe('flynn-host: discovery tokens are not supported yet (use --peer-ips)\n');
    }
    const bad = join(dir, 'no-such-dir', 'host.json');
    expect(flynnHost(['init', '--file', bad])).toMatchObject({
      code: 1,
      stderr: `flynn-host: open ${bad}: no such file or directory\n`,
    });
  });
});

describe('reading host.json', () => {
  it('takes Go’s shapes: null and missing fields, case-insensitive names', () => {
    expect(parseHostConfig('null')).toEqual({});
    expect(parseHostConfig('{"Args":["-id","h"],"ENV":{"K":"v"},"other":1}')).toEqual({
      args: ['-id', 'h'],
      env: { K: 'v' },
    });
    expect(() => parseHostConfig('')).toThrow(/^EOF$/);
    expect(() => parseHostConfig('{"args":"-id h"}')).toThrow(/Config\.args of type \[\]string/);
    expect(() => parseHostConfig('{"env":{"K":1}}')).toThrow(/Config\.env of type map\[string\]string/);
  });

  it('$FLYNN_HOST_CONFIG must be readable; a missing default file is no config', () => {
    expect(loadHostConfig({}, join(dir, 'absent.json'))).toEqual({});
    const named = join(dir, 'absent-named.json');
    expect(() => loadHostConfig({ FLYNN_HOST_CONFIG: named })).toThrow(
      new HostConfigError(`error opening config file ${named}: open ${named}: no such file or directory`),
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"args": [');
    expect(() => loadHostConfig({}, broken)).toThrow(/^error opening config file .*broken\.json: /);
  });

  it('merges as Flynn: the file’s args last (they win), its env over the environment', () => {
    const m = mergeHostConfig(
      ['-api-port', '1', '-id', 'a'],
      { X: '1', Y: '1' },
      {
        args: ['-api-port', '2'],
        env: { Y: '2', CLUSTER_KEY: 'k' },
      },
    );
    expect(m.argv).toEqual(['-api-port', '1', '-id', 'a', '-api-port', '2']);
    expect(m.env).toEqual({ X: '1', Y: '2', CLUSTER_KEY: 'k' });
  });
});
