import type { KvEntry, KvEvent } from '@flynn-edge/discoverd-state';

// A router's local copy of the store prefixes a route write reads (routes, route ids, service
// records), kept by its RouteSync: one listing, then whole revisions from the watch, so the
// copy is always the store as it was at one revision. RouteStore plans a write's first attempt
// from it instead of reading discoverd; the transaction's compares re-check every fact, so an
// out-of-date copy can only make that attempt fail (then the write re-reads the store).

/** The one watch prefix that holds `routes/`, `route-ids/` and `route-services/`. */
export const VIEW_WATCH_PREFIX = 'route';

/** The prefixes a view answers for (an absent key under them is absent at `revision`). */
const COVERED = ['routes/', 'route-ids/', 'route-services/'];

/** Does a view hold `keyOrPrefix` (all of it lies under a copied prefix)? */
export function inView(keyOrPrefix: string): boolean {
  return COVERED.some((p) => keyOrPrefix.startsWith(p));
}

/** What RouteStore reads from a view. */
export interface StoreView {
  /** Store revision the copy reflects (the last revision that changed a copied key). */
  readonly revision: number;
  /** Does the copy answer for `keyOrPrefix` (all of it lies under a copied prefix)? */
  covers(keyOrPrefix: string): boolean;
  get(key: string): KvEntry | null;
  /** Entries under `prefix`, sorted by key. */
  list(prefix: string): KvEntry[];
}

export class KvMirror implements StoreView {
  revision = 0;
  private readonly entries = new Map<string, KvEntry>();
  /** Keys in sorted order: the keys under a prefix are one run of it. */
  private keys: string[] = [];

  covers(keyOrPrefix: string): boolean {
    return inView(keyOrPrefix);
  }

  get(key: string): KvEntry | null {
    return this.entries.get(key) ?? null;
  }

  list(prefix: string): KvEntry[] {
    const out: KvEntry[] = [];
    for (let i = this.lowerBound(prefix); i < this.keys.length; i++) {
      const k = this.keys[i]!;
      if (!k.startsWith(prefix)) break;
      out.push(this.entries.get(k)!);
    }
    return out;
  }

  /** Replaces the copy with a listing taken at `revision`. */
  reset(revision: number, entries: readonly KvEntry[]): void {
    this.entries.clear();
    for (const e of entries) this.entries.set(e.key, e);
    this.keys = [...this.entries.keys()].sort(byKey);
    this.revision = revision;
  }

  /** One revision's changes, as the watch delivers them. */
  apply(revision: number, events: readonly KvEvent[]): void {
    for (const ev of events) {
      const old = this.entries.get(ev.key);
      if (ev.type === 'delete') {
        if (!old) continue;
        this.entries.delete(ev.key);
        this.keys.splice(this.lowerBound(ev.key), 1);
        continue;
      }
      this.entries.set(ev.key, {
        key: ev.key,
        value: ev.value ?? '',
        create_revision: old ? old.create_revision : revision,
        mod_revision: revision,
        version: old ? old.version + 1 : 1,
      });
      if (!old) this.keys.splice(this.lowerBound(ev.key), 0, ev.key);
    }
    this.revision = revision;
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
