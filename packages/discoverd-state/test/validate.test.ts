import { describe, expect, it } from 'vitest';
import {
  instanceId,
  MAX_KV_KEY_BYTES,
  parseServiceConfig,
  splitHostPort,
  validateInstance,
  validateKvKey,
  validateKvPrefix,
  validateKvTxn,
  validateProto,
  validateServiceName,
} from '../src/index.js';

const v = (message: string) => ({ code: 'validation_error', message });

describe('validateServiceName', () => {
  it('accepts [a-z0-9-]', () => {
    expect(validateServiceName('web-1')).toBeUndefined();
    expect(validateServiceName('123')).toBeUndefined();
    expect(validateServiceName('-')).toBeUndefined();
  });
  it('rejects empty and other characters with Flynn messages', () => {
    expect(validateServiceName('')).toEqual(v('discoverd: service name must not be empty'));
    for (const bad of ['Web', 'a_b', 'a.b', 'a b', 'é', 'a/b']) {
      expect(validateServiceName(bad)).toEqual(
        v('discoverd: service must be lowercase alphanumeric plus dash'),
      );
    }
  });
});

describe('validateProto', () => {
  it('requires non-empty [a-z0-9]+', () => {
    expect(validateProto('tcp')).toBeUndefined();
    expect(validateProto('h2')).toBeUndefined();
    expect(validateProto('')).toEqual(v('discoverd: proto must be set'));
    expect(validateProto('TCP')).toEqual(v('discoverd: proto must be lowercase alphanumeric'));
    expect(validateProto('tc-p')).toEqual(v('discoverd: proto must be lowercase alphanumeric'));
  });
});

describe('splitHostPort (Go net.SplitHostPort)', () => {
  it('splits valid forms', () => {
    expect(splitHostPort('1.2.3.4:80')).toEqual({ host: '1.2.3.4', port: '80' });
    expect(splitHostPort('[::1]:53')).toEqual({ host: '::1', port: '53' });
    expect(splitHostPort(':80')).toEqual({ host: '', port: '80' });
    expect(splitHostPort('host:')).toEqual({ host: 'host', port: '' });
    expect(splitHostPort('host:http')).toEqual({ host: 'host', port: 'http' });
    expect(splitHostPort('[fe80::1%eth0]:1')).toEqual({ host: 'fe80::1%eth0', port: '1' });
  });
  it('reports Go error texts', () => {
    expect(splitHostPort('')).toEqual({ error: 'address : missing port in address' });
    expect(splitHostPort('1.2.3.4')).toEqual({ error: 'address 1.2.3.4: missing port in address' });
    expect(splitHostPort('::1:80')).toEqual({ error: 'address ::1:80: too many colons in address' });
    expect(splitHostPort('[::1:80')).toEqual({ error: "address [::1:80: missing ']' in address" });
    expect(splitHostPort('[::1]')).toEqual({ error: 'address [::1]: missing port in address' });
    expect(splitHostPort('[::1]x:80')).toEqual({ error: 'address [::1]x:80: missing port in address' });
    expect(splitHostPort('[::1]:80:1')).toEqual({ error: 'address [::1]:80:1: too many colons in address' });
    expect(splitHostPort('a[b:80')).toEqual({ error: "address a[b:80: unexpected '[' in address" });
    expect(splitHostPort('a]b:80')).toEqual({ error: "address a]b:80: unexpected ']' in address" });
    expect(splitHostPort('[a]:8]0')).toEqual({ error: "address [a]:8]0: unexpected ']' in address" });
  });
});

describe('validateInstance', () => {
  const good = { id: instanceId('tcp', '10.0.0.1:80'), addr: '10.0.0.1:80', proto: 'tcp' };
  it('accepts a correct instance', () => {
    expect(validateInstance(good)).toBeUndefined();
  });
  it('checks proto first, then addr, then id', () => {
    expect(validateInstance({ ...good, proto: '', addr: 'bad' })).toEqual(v('discoverd: proto must be set'));
    expect(validateInstance({ ...good, addr: 'bad' })).toEqual(v('address bad: missing port in address'));
    expect(validateInstance({ ...good, id: 'abc' })).toEqual(
      v(`discoverd: instance id is incorrect, expected ${good.id}`),
    );
    expect(validateInstance({ ...good, id: good.id.toUpperCase() })).toEqual(
      v(`discoverd: instance id is incorrect, expected ${good.id}`),
    );
  });
});

describe('parseServiceConfig', () => {
  it('defaults to oldest', () => {
    expect(parseServiceConfig({})).toEqual({ config: { leader_type: 'oldest' } });
    expect(parseServiceConfig(null)).toEqual({ config: { leader_type: 'oldest' } });
    expect(parseServiceConfig({ leader_type: '' })).toEqual({ config: { leader_type: 'oldest' } });
    expect(parseServiceConfig({ leader_type: 'oldest' })).toEqual({ config: { leader_type: 'oldest' } });
    expect(parseServiceConfig({ leader_type: 'manual' })).toEqual({ config: { leader_type: 'manual' } });
  });
  it('refuses unknown leader types and non-objects', () => {
    expect(parseServiceConfig({ leader_type: 'newest' })).toEqual({
      error: v('discoverd: leader_type must be "oldest" or "manual"'),
    });
    expect(parseServiceConfig([1])).toEqual({ error: v('discoverd: service config must be a JSON object') });
  });
});

describe('kv validation', () => {
  it('rejects empty and oversized keys', () => {
    expect(validateKvKey('a')).toBeUndefined();
    expect(validateKvKey('x'.repeat(MAX_KV_KEY_BYTES))).toBeUndefined();
    expect(validateKvKey('')).toEqual(v('kv: key must not be empty'));
    expect(validateKvKey('x'.repeat(MAX_KV_KEY_BYTES + 1))).toEqual(v('kv: key must be at most 4096 bytes'));
    // 4 KiB is counted in UTF-8 bytes: 1366 × "é" (2 bytes) = 2732 bytes is fine, 2049 × "é" is not.
    expect(validateKvKey('é'.repeat(2048))).toBeUndefined();
    expect(validateKvKey('é'.repeat(2049))).toEqual(v('kv: key must be at most 4096 bytes'));
    expect(validateKvKey('\u{1F600}'.repeat(1025))).toEqual(v('kv: key must be at most 4096 bytes'));
    expect(validateKvKey(5)).toEqual(v('kv: key must be a string'));
  });
  it('allows an empty prefix but not an oversized one', () => {
    expect(validateKvPrefix('')).toBeUndefined();
    expect(validateKvPrefix('x'.repeat(5000))).toEqual(v('kv: prefix must be at most 4096 bytes'));
  });
  it('validates a whole transaction', () => {
    expect(
      validateKvTxn({ Compare: [{ Key: 'a', Op: 'absent' }], Success: [], Failure: [] }),
    ).toBeUndefined();
    expect(validateKvTxn({ Compare: [{ Key: '', Op: 'absent' }], Success: [], Failure: [] })).toEqual(
      v('kv: key must not be empty'),
    );
    expect(
      validateKvTxn({ Compare: [{ Key: 'a', Op: '=', ModRevision: -1 }], Success: [], Failure: [] }),
    ).toEqual(v('kv: compare ModRevision must be a non-negative integer'));
    expect(
      validateKvTxn({ Compare: [], Success: [], Failure: [{ Op: 'put', Key: '', Value: 'x' }] }),
    ).toEqual(v('kv: key must not be empty'));
    expect(
      validateKvTxn({ Compare: [], Success: [{ Op: 'put', Key: 'k', Value: 1 as never }], Failure: [] }),
    ).toEqual(v('kv: value must be a string'));
  });
});
