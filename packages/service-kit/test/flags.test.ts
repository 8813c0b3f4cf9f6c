import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  defineFlags,
  FlagError,
  flagUsage,
  formatDuration,
  parseDuration,
  parseFlags,
  parseInt64,
} from '../src/index.js';

const spec = defineFlags({
  addr: { type: 'string', default: ':1111', usage: 'address to listen on', env: 'DISCOVERD_ADDR' },
  peers: { type: 'string', usage: 'comma-separated list of peers' },
  'data-dir': { type: 'string', usage: 'raft data `directory`' },
  v: { type: 'boolean', usage: 'verbose' },
  'wait-net-dns': { type: 'boolean', usage: 'wait for the host network' },
  'tcp-range-start': { type: 'int', default: 3000, usage: 'first TCP route port' },
  timeout: { type: 'duration', default: '10s', usage: 'request timeout', env: 'TIMEOUT' },
  ratio: { type: 'float', usage: 'a ratio' },
});

const parse = (argv: string[], env: Record<string, string> = {}) =>
  parseFlags(spec, argv, env, { prog: 'discoverd' });

function flagError(fn: () => unknown): FlagError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FlagError);
    return err as FlagError;
  }
  throw new Error('expected a FlagError');
}

describe('parseFlags', () => {
  it('applies defaults and camelCases names, with precise types', () => {
    const { flags, args } = parse([]);
    expect(flags).toEqual({
      addr: ':1111',
      peers: undefined,
      dataDir: undefined,
      v: false,
      waitNetDns: false,
      tcpRangeStart: 3000,
      timeout: 10_000,
      ratio: undefined,
    });
    expect(args).toEqual([]);
    expectTypeOf(flags.addr).toEqualTypeOf<string>();
    expectTypeOf(flags.peers).toEqualTypeOf<string | undefined>();
    expectTypeOf(flags.dataDir).toEqualTypeOf<string | undefined>();
    expectTypeOf(flags.v).toEqualTypeOf<boolean>();
    expectTypeOf(flags.tcpRangeStart).toEqualTypeOf<number>();
    expectTypeOf(flags.timeout).toEqualTypeOf<number>();
    expectTypeOf(flags.ratio).toEqualTypeOf<number | undefined>();
  });

  it.each([
    [['-addr', '127.0.0.1:1111']],
    [['-addr=127.0.0.1:1111']],
    [['--addr', '127.0.0.1:1111']],
    [['--addr=127.0.0.1:1111']],
  ])('accepts %j', (argv) => {
    expect(parse(argv).flags.addr).toBe('127.0.0.1:1111');
  });

  it('parses every type', () => {
    const { flags } = parse([
      '-data-dir',
      '/data',
      '-tcp-range-start=0x10',
      '--timeout',
      '1m30s',
      '-ratio=2.5e-1',
      '-peers',
      '',
    ]);
    expect(flags.dataDir).toBe('/data');
    expect(flags.tcpRangeStart).toBe(16);
    expect(flags.timeout).toBe(90_000);
    expect(flags.ratio).toBe(0.25);
    expect(flags.peers).toBe('');
  });

  it('treats booleans as Go does: bare means true and never takes the next arg', () => {
    expect(parse(['-v']).flags.v).toBe(true);
    expect(parse(['--v']).flags.v).toBe(true);
    expect(parse(['-v=false']).flags.v).toBe(false);
    expect(parse(['-v=true', '-wait-net-dns=1']).flags).toMatchObject({ v: true, waitNetDns: true });
    const { flags, args } = parse(['-v', 'false', '-addr', 'x']);
    expect(flags.v).toBe(true);
    // "false" is the first positional: parsing stops there, as in Go.
    expect(args).toEqual(['false', '-addr', 'x']);
    expect(flags.addr).toBe(':1111');
  });

  it('stops at -- (consumed), at "-" and at the first positional', () => {
    expect(parse(['-v', '--', '-addr', 'x'])).toEqual(expect.objectContaining({ args: ['-addr', 'x'] }));
    expect(parse(['-', '-v']).args).toEqual(['-', '-v']);
    expect(parse(['run', '-v']).args).toEqual(['run', '-v']);
  });

  it('takes the next argument as a value even if it starts with a dash, as Go does', () => {
    expect(parse(['-peers', '-v']).flags.peers).toBe('-v');
  });

  it('lets the last occurrence win', () => {
    expect(parse(['-addr', 'a', '-addr=b']).flags.addr).toBe('b');
  });

  it('uses flag > env > default', () => {
    expect(parse([], { DISCOVERD_ADDR: ':2222' }).flags.addr).toBe(':2222');
    expect(parse(['-addr', ':3333'], { DISCOVERD_ADDR: ':2222' }).flags.addr).toBe(':3333');
    expect(parse([], { DISCOVERD_ADDR: '' }).flags.addr).toBe(':1111');
    expect(parse([], { TIMEOUT: '500ms' }).flags.timeout).toBe(500);
    expect(flagError(() => parse([], { TIMEOUT: 'soon' })).message).toBe(
      'invalid value "soon" for $TIMEOUT (flag -timeout): parse error',
    );
  });

  it('reports errors with Go messages', () => {
    expect(flagError(() => parse(['-foo'])).message).toBe('flag provided but not defined: -foo');
    expect(flagError(() => parse(['--foo=1'])).message).toBe('flag provided but not defined: -foo');
    expect(flagError(() => parse(['-addr'])).message).toBe('flag needs an argument: -addr');
    expect(flagError(() => parse(['-tcp-range-start', 'x'])).message).toBe(
      'invalid value "x" for flag -tcp-range-start: parse error',
    );
    expect(flagError(() => parse(['-tcp-range-start=99999999999999999999'])).message).toBe(
      'invalid value "99999999999999999999" for flag -tcp-range-start: value out of range',
    );
    expect(flagError(() => parse(['-timeout', '10'])).message).toBe(
      'invalid value "10" for flag -timeout: parse error',
    );
    expect(flagError(() => parse(['-v=maybe'])).message).toBe(
      'invalid boolean value "maybe" for -v: parse error',
    );
    expect(flagError(() => parse(['---addr'])).message).toBe('bad flag syntax: ---addr');
    expect(flagError(() => parse(['-=x'])).message).toBe('bad flag syntax: -=x');
    const err = flagError(() => parse(['-foo']));
    expect(err.help).toBe(false);
    expect(err.exitCode).toBe(2);
    expect(err.usage).toMatch(/^Usage of discoverd:\n/);
  });

  it('enforces required flags after env', () => {
    const s = defineFlags({ 'data-dir': { type: 'string', required: true, env: 'DATA_DIR' } });
    expect(flagError(() => parseFlags(s, [], {})).message).toBe(
      'flag -data-dir is required (or set $DATA_DIR)',
    );
    const { flags } = parseFlags(s, [], { DATA_DIR: '/d' });
    expect(flags.dataDir).toBe('/d');
    expectTypeOf(flags.dataDir).toEqualTypeOf<string>();
  });

  it.each([['-h'], ['-help'], ['--help'], ['-h=false']])('%s asks for help', (arg) => {
    const err = flagError(() => parse([arg]));
    expect(err.help).toBe(true);
    expect(err.exitCode).toBe(0);
    expect(err.usage).toBe(flagUsage(spec, 'discoverd'));
  });

  it('lets a spec define its own -h', () => {
    const s = defineFlags({ h: { type: 'string' } });
    expect(parseFlags(s, ['-h', 'x'], {}).flags.h).toBe('x');
  });

  it('rejects specs whose names collide after camelCasing', () => {
    expect(() => defineFlags({ 'data-dir': { type: 'string' }, dataDir: { type: 'string' } })).toThrow(
      /both map to dataDir/,
    );
  });
});

describe('flagUsage', () => {
  it('prints Go PrintDefaults format, sorted', () => {
    expect(flagUsage(spec, 'discoverd')).toBe(
      [
        'Usage of discoverd:',
        '  -addr string',
        '    \taddress to listen on (default ":1111") (env $DISCOVERD_ADDR)',
        '  -data-dir directory',
        '    \traft data directory',
        '  -peers string',
        '    \tcomma-separated list of peers',
        '  -ratio float',
        '    \ta ratio',
        '  -tcp-range-start int',
        '    \tfirst TCP route port (default 3000)',
        '  -timeout duration',
        '    \trequest timeout (default 10s) (env $TIMEOUT)',
        '  -v\tverbose',
        '  -wait-net-dns',
        '    \twait for the host network',
        '',
      ].join('\n'),
    );
  });
});

describe('value parsers', () => {
  it('parses Go durations to milliseconds', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('-2m')).toBe(-120_000);
    expect(parseDuration('250us')).toBe(0.25);
    expect(parseDuration('1µs')).toBe(0.001);
    expect(parseDuration('.5s')).toBe(500);
    for (const bad of ['', '10', 's', '1x', '.s', '1.2.3s', '-']) {
      expect(() => parseDuration(bad), bad).toThrow(/^time: /);
    }
  });

  it('formats durations as Go does', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(10_000)).toBe('10s');
    expect(formatDuration(90_000)).toBe('1m30s');
    expect(formatDuration(3_600_000)).toBe('1h0m0s');
    expect(formatDuration(500)).toBe('500ms');
    expect(formatDuration(1.5)).toBe('1.5ms');
    expect(formatDuration(0.0015)).toBe('1.5µs');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(-90_000)).toBe('-1m30s');
  });

  it('parses ints with base prefixes and underscores', () => {
    expect(parseInt64('42')).toBe(42);
    expect(parseInt64('-42')).toBe(-42);
    expect(parseInt64('0x1F')).toBe(31);
    expect(parseInt64('017')).toBe(15);
    expect(parseInt64('0o17')).toBe(15);
    expect(parseInt64('0b101')).toBe(5);
    expect(parseInt64('1_000')).toBe(1000);
    for (const bad of ['', '08', '1_', '_1', '1__0', '1.5', '0x', 'abc']) {
      expect(() => parseInt64(bad), bad).toThrow();
    }
  });
});
