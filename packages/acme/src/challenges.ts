import type { KvClient, KvWatch } from '@flynn-edge/discoverd-client';
import type { KvEvent } from '@flynn-edge/discoverd-state';
import { ACME_CHALLENGE_PATH, acmeKeys, normaliseHost } from '@flynn-edge/router-core';

// http-01 tokens in the cluster store (acmeKeys.challenge(token)): the issuer puts and deletes
// them, every router process keeps a ChallengeTable of them (list, then watch from the listing's
// revision, re-list after any failure) and answers /.well-known/acme-challenge/<token> from it.

export interface StoredChallenge {
  domain: string;
  key_authorization: string;
  created_at: string;
}

export async function putChallenge(
  kv: KvClient,
  token: string,
  domain: string,
  keyAuth: string,
): Promise<void> {
  const v: StoredChallenge = { domain, key_authorization: keyAuth, created_at: new Date().toISOString() };
  await kv.put(acmeKeys.challenge(token), JSON.stringify(v));
}

export async function deleteChallenge(kv: KvClient, token: string): Promise<void> {
  await kv.delete(acmeKeys.challenge(token));
}

function parseChallenge(value: string | undefined): StoredChallenge | undefined {
  try {
    const c = JSON.parse(value ?? '') as StoredChallenge;
    return typeof c.domain === 'string' && typeof c.key_authorization === 'string' ? c : undefined;
  } catch {
    return undefined;
  }
}

export interface ChallengeTableOptions {
  /** Pause before re-listing after a failure. Default 2000 ms. */
  retryDelayMs?: number;
  log?: (msg: string, err: unknown) => void;
}

export class ChallengeTable {
  private readonly tokens = new Map<string, StoredChallenge>();
  private watch: KvWatch | undefined;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kv: KvClient,
    private readonly opts: ChallengeTableOptions = {},
  ) {}

  get size(): number {
    return this.tokens.size;
  }

  /** Resolves after the first listing (or its failure, then retried in the background). */
  async start(): Promise<void> {
    await this.resync();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.close();
    clearTimeout(this.retry);
  }

  /**
   * The body answering GET `path` on `host`, when path is a known token's challenge path and the
   * host is the token's domain; undefined otherwise (the caller answers 404).
   */
  answer(host: string | undefined, path: string): string | undefined {
    if (!path.startsWith(ACME_CHALLENGE_PATH)) return undefined;
    const q = path.indexOf('?');
    const token = path.slice(ACME_CHALLENGE_PATH.length, q < 0 ? undefined : q);
    const c = this.tokens.get(token);
    if (c === undefined || normaliseHost(host) !== c.domain) return undefined;
    return c.key_authorization;
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    try {
      const rev = await this.relist();
      if (this.stopped) return;
      const w = this.kv.watch(acmeKeys.challengesPrefix, {
        startRevision: rev + 1,
        onRevision: (_rev, events) => {
          if (w === this.watch) for (const e of events) this.apply(e);
        },
        onCompacted: () => this.relist().catch(() => undefined),
        onError: (err) => {
          if (w === this.watch) this.fail(err);
        },
      });
      this.watch = w;
    } catch (err) {
      this.fail(err);
    }
  }

  private async relist(): Promise<number> {
    const l = await this.kv.listAll(acmeKeys.challengesPrefix);
    this.tokens.clear();
    for (const e of l.entries) this.apply({ type: 'put', key: e.key, value: e.value });
    return l.revision;
  }

  private apply(e: Pick<KvEvent, 'type' | 'key' | 'value'>): void {
    const token = e.key.slice(acmeKeys.challengesPrefix.length);
    if (e.type === 'delete') {
      this.tokens.delete(token);
      return;
    }
    const c = parseChallenge(e.value);
    if (c) this.tokens.set(token, { ...c, domain: c.domain.toLowerCase() });
  }

  private fail(err: unknown): void {
    if (this.stopped) return;
    (this.opts.log ?? ((m, e) => console.warn(m, e)))('acme: challenge watch failed', err);
    this.watch?.close();
    this.watch = undefined;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.resync(), this.opts.retryDelayMs ?? 2000);
    this.retry.unref();
  }
}
