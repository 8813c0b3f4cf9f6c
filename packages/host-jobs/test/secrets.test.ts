import { describe, expect, it } from 'vitest';
import { isSecretName, MASKED, maskArgs, maskEnv, maskJob } from '../src/secrets.js';

describe('the secrets rule', () => {
  it('masks values of secret-looking names, keeping every name', () => {
    for (const name of [
      'CLUSTER_KEY',
      'AUTH_KEY',
      'COOKIE_KEY',
      'api_token',
      'DB_PASSWORD',
      'PGPASS',
      'AWS_SECRET_ACCESS_KEY',
      'GCP_CREDENTIALS',
      'SSH_PRIVATE',
    ]) {
      expect(isSecretName(name), name).toBe(true);
    }
    for (const name of ['PATH', 'PORT', 'DISCOVERD', 'FLYNN_APP_NAME', 'HOST_ID', 'PWD']) {
      expect(isSecretName(name), name).toBe(false);
    }
    expect(maskEnv({ CLUSTER_KEY: 'k', PORT: '80', DATABASE_URL: 'postgres://app:pw@db:5432/x' })).toEqual({
      CLUSTER_KEY: MASKED,
      PORT: '80',
      DATABASE_URL: `postgres://app:${MASKED}@db:5432/x`,
    });
    // A URL without a password is left alone.
    expect(maskEnv({ URL: 'http://user@host/' })).toEqual({ URL: 'http://user@host/' });
  });

  it('masks the values of secret flags, in both forms', () => {
    expect(maskArgs(['-cluster-key', 'k1', '--password=p1', '-port', '80', '--token'])).toEqual([
      '-cluster-key',
      MASKED,
      `--password=${MASKED}`,
      '-port',
      '80',
      '--token',
    ]);
  });

  it('leaves the rest of a job as it is, and does not change the original', () => {
    const job = { id: 'h-1', env: { AUTH_KEY: 'a' }, args: ['x'], state: 'running' };
    expect(maskJob(job)).toEqual({ id: 'h-1', env: { AUTH_KEY: MASKED }, args: ['x'], state: 'running' });
    expect(job.env.AUTH_KEY).toBe('a');
    expect(maskJob({ id: 'no-env' })).toEqual({ id: 'no-env' });
  });
});
