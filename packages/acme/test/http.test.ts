import * as acme from 'acme-client';
import { describe, expect, it } from 'vitest';
import { configureAcmeHttp } from '../src/http.js';
import { errorMessage } from '../src/issuer.js';

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
