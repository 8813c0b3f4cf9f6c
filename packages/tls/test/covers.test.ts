import { describe, expect, it } from 'vitest';
import { certificateCovers } from '../src/index.js';

describe('certificateCovers', () => {
  it('matches exact names case-insensitively, ignoring a trailing dot', () => {
    expect(certificateCovers(['example.com'], 'example.com')).toBe(true);
    expect(certificateCovers(['Example.COM'], 'example.com.')).toBe(true);
    expect(certificateCovers(['example.com'], 'www.example.com')).toBe(false);
    expect(certificateCovers([], 'example.com')).toBe(false);
    expect(certificateCovers(['example.com'], '')).toBe(false);
  });
  it('a wildcard covers exactly one extra label', () => {
    const names = ['*.example.com'];
    expect(certificateCovers(names, 'a.example.com')).toBe(true);
    expect(certificateCovers(names, 'A.Example.com')).toBe(true);
    expect(certificateCovers(names, 'example.com')).toBe(false);
    expect(certificateCovers(names, 'a.b.example.com')).toBe(false);
    expect(certificateCovers(names, '.example.com')).toBe(false);
    expect(certificateCovers(names, 'a.example.org')).toBe(false);
    expect(certificateCovers(names, 'aexample.com')).toBe(false);
  });
  it('refuses over-broad and partial wildcards', () => {
    expect(certificateCovers(['*.com'], 'example.com')).toBe(false);
    expect(certificateCovers(['*'], 'example')).toBe(false);
    expect(certificateCovers(['f*.example.com'], 'foo.example.com')).toBe(false);
    expect(certificateCovers(['*.*.example.com'], 'a.b.example.com')).toBe(false);
  });
  it('any of several names may match', () => {
    expect(certificateCovers(['example.com', '*.example.com'], 'example.com')).toBe(true);
    expect(certificateCovers(['example.com', '*.example.com'], 'x.example.com')).toBe(true);
  });
});
