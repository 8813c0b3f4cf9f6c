import * as acme from 'acme-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeRateLimitError, configureAcmeHttp, parseRetryAfter, withAbortSignal } from '../src/http.js';
import { errorMessage } from '../src/issuer.js';
import { FakeAcme, HOSTS } from './helpers.js';

// A directory nobody answers on: the operator must read why (the connection refused, and where),
// not acme-client's own TypeError (publishlab/node-acme-client#101).

describe('an unreachable ACME directory', () => {
  it('fails with the connection error and the URL', async () => {
    configureAcmeHttp({ retries: 0 });
    const client = new acme.Client({
      directoryUrl: 'https://127.0.0.229:1/dir',
      accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
    });
    const err = await client.getTermsOfServiceUrl().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(errorMessage(err)).toBe('https://127.0.0.229:1/dir: connect ECONNREFUSED 127.0.0.229:1');
  });
});

// A rate limit is not slept on inside acme-client (Let's Encrypt's Retry-After is hours): the
// call fails at once with the server's problem and its Retry-After, for the issuer to record.

describe('a rate-limited ACME server', () => {
  const fake = new FakeAcme();
  beforeAll(() => fake.start(HOSTS.web));
  afterAll(() => fake.close());

  it('fails at once with the problem detail and Retry-After, not retried', async () => {
    configureAcmeHttp({ retries: 3 });
    const client = new acme.Client({
      directoryUrl: fake.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
    });
    const started = Date.now();
    const err = await client.createAccount({ termsOfServiceAgreed: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(fake.accountPosts).toBe(1);
    expect(err).toBeInstanceOf(AcmeRateLimitError);
    expect((err as AcmeRateLimitError).retryAfterMs).toBe(7_200_000);
    expect(errorMessage(err)).toBe('too many new registrations from this address');
  });

  it('ends a request in flight when its order is aborted, with the abort’s reason', async () => {
    configureAcmeHttp({ retries: 3 });
    fake.answer = 'hang';
    const client = new acme.Client({
      directoryUrl: fake.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey('P-256'),
    });
    const ac = new AbortController();
    const p = withAbortSignal(ac.signal, () => client.createAccount({ termsOfServiceAgreed: true }));
    const posts = fake.accountPosts;
    while (fake.accountPosts === posts) await new Promise((r) => setTimeout(r, 10));
    ac.abort(new Error('stepped down'));
    await expect(p).rejects.toThrow('stepped down');
    expect(fake.accountPosts).toBe(posts + 1);
  });

  it('reads Retry-After in seconds or as a date', () => {
    expect(parseRetryAfter('120', 0)).toBe(120_000);
    expect(parseRetryAfter(new Date(60_000).toUTCString(), 0)).toBe(60_000);
    expect(parseRetryAfter('0')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
