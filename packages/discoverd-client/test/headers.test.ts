import { describe, expect, it } from 'vitest';
import { RawHeaders } from '../src/headers.js';

describe('RawHeaders', () => {
  it('reads like Headers: any case, absent is null, repeats joined', () => {
    const raw = [
      'Discoverd-Index',
      '42',
      'Set-Cookie',
      'a=1',
      'content-type',
      'application/json',
      'set-cookie',
      'b=2',
    ];
    const light = new RawHeaders(raw);
    const real = new Headers();
    for (let i = 0; i < raw.length; i += 2) real.append(raw[i]!, raw[i + 1]!);
    for (const name of ['discoverd-index', 'DISCOVERD-INDEX', 'Content-Type', 'location', 'x-nothing']) {
      expect(light.get(name)).toBe(real.get(name));
    }
    expect(light.get('set-cookie')).toBe('a=1, b=2');
  });
});
