import { describe, expect, it } from 'vitest';
import { createLogger, formatPretty, resolveLogLevel } from '../src/index.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (s: string) => void lines.push(s) } };
}

describe('createLogger', () => {
  it('writes NDJSON with the component and host as base fields', () => {
    const { lines, destination } = capture();
    const log = createLogger({ component: 'router', host: '10.0.0.1', destination, env: {} });
    log.info({ route: 'a' }, 'hello');
    log.debug('hidden at info');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!);
    expect(rec).toMatchObject({ level: 30, component: 'router', host: '10.0.0.1', route: 'a', msg: 'hello' });
    expect(rec.pid).toBeUndefined();
    expect(rec.time).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('omits host when not given', () => {
    const { lines, destination } = capture();
    createLogger({ component: 'router', destination, env: {} }).info('x');
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('host');
  });

  it('takes the level from the option, then LOG_LEVEL, then info', () => {
    expect(resolveLogLevel(undefined, {})).toBe('info');
    expect(resolveLogLevel(undefined, { LOG_LEVEL: 'DEBUG' })).toBe('debug');
    expect(resolveLogLevel('warn', { LOG_LEVEL: 'debug' })).toBe('warn');
    expect(() => resolveLogLevel('loud', {})).toThrow(/invalid log level/);
    const { lines, destination } = capture();
    createLogger({ component: 'x', destination, env: { LOG_LEVEL: 'debug' } }).debug('shown');
    expect(lines).toHaveLength(1);
  });

  it('formats pretty lines', () => {
    expect(
      formatPretty({
        level: 40,
        time: '2024-01-02T03:04:05.678Z',
        component: 'status',
        msg: 'slow',
        check: 'router',
        ms: 12,
      }),
    ).toBe('03:04:05.678 WARN  status: slow check=router ms=12\n');
  });
});
