import type { KvClient } from '@flynn-edge/discoverd-client';
import { acmeKeys } from '@flynn-edge/router-core';
import * as acme from 'acme-client';

// The cluster's ACME account: its key is generated once and kept in the cluster store under
// acmeKeys.account. Creating it is a create-if-absent transaction, so routers racing to create it
// end up with one key, and ACME answers a newAccount with a known key with the existing account.

export interface StoredAccount {
  key_pem: string;
  /** The account URL once the directory created it. */
  url?: string;
  directory_url: string;
  contact: string[];
  created_at: string;
}

export interface AccountOptions {
  directoryUrl: string;
  /** `mailto:` URLs (an address without a scheme is given one). */
  contact: string[];
  termsAgreed: boolean;
  /** Passed to the acme-client Client: polling of order and challenge status. */
  statusPollMs?: number;
}

/** A configuration problem that no retry fixes (terms not agreed). */
export class AcmeConfigError extends Error {
  override readonly name = 'AcmeConfigError';
}

export function contactUrls(contact: string[]): string[] {
  return contact
    .map((c) => c.trim())
    .filter(Boolean)
    .map((c) => (/^[a-z]+:/i.test(c) ? c : `mailto:${c}`));
}

function parseAccount(value: string): StoredAccount | undefined {
  try {
    const a = JSON.parse(value) as StoredAccount;
    return typeof a.key_pem === 'string' && typeof a.directory_url === 'string' ? a : undefined;
  } catch {
    return undefined;
  }
}

/** The stored account for `directoryUrl`, creating its key when there is none (or one for another directory). */
export async function storedAccount(
  kv: KvClient,
  opts: Pick<AccountOptions, 'directoryUrl' | 'contact'>,
): Promise<{ account: StoredAccount; revision: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const cur = await kv.get(acmeKeys.account);
    const parsed = cur ? parseAccount(cur.value) : undefined;
    if (cur && parsed && parsed.directory_url === opts.directoryUrl) {
      return { account: parsed, revision: cur.mod_revision };
    }
    const account: StoredAccount = {
      key_pem: (await acme.crypto.createPrivateEcdsaKey('P-256')).toString(),
      directory_url: opts.directoryUrl,
      contact: contactUrls(opts.contact),
      created_at: new Date().toISOString(),
    };
    const res = await kv.txn({
      compare: [
        cur
          ? { key: acmeKeys.account, op: '=', mod_revision: cur.mod_revision }
          : { key: acmeKeys.account, op: 'absent' },
      ],
      success: [{ op: 'put', key: acmeKeys.account, value: JSON.stringify(account) }],
    });
    if (res.succeeded) return { account, revision: res.revision };
    // Another router created (or replaced) it first: read theirs.
  }
  throw new Error('acme: could not store the account key (store contention)');
}

/**
 * An acme-client Client logged in with the cluster's account: created at the directory on first
 * use (terms agreed when required), its URL then remembered in the store.
 */
export async function openAccount(kv: KvClient, opts: AccountOptions): Promise<acme.Client> {
  const { account, revision } = await storedAccount(kv, opts);
  const poll = opts.statusPollMs ?? 1000;
  const client = new acme.Client({
    directoryUrl: opts.directoryUrl,
    accountKey: account.key_pem,
    accountUrl: account.url,
    backoffMin: poll,
    backoffMax: Math.max(poll, 10_000),
    backoffAttempts: 12,
  });
  if (account.url) return client;
  const terms = await client.getTermsOfServiceUrl();
  if (terms && !opts.termsAgreed) {
    throw new AcmeConfigError(
      `the ACME directory requires agreeing to its terms of service (${terms}): set ACME_TERMS_AGREED=true`,
    );
  }
  const contact = contactUrls(opts.contact);
  await client.createAccount({
    termsOfServiceAgreed: opts.termsAgreed || undefined,
    ...(contact.length > 0 ? { contact } : {}),
  });
  const url = client.getAccountUrl();
  // Remember the URL; losing this race only means another router wrote the same URL.
  await kv
    .put(acmeKeys.account, JSON.stringify({ ...account, url }), { prevRevision: revision })
    .catch(() => undefined);
  return client;
}
