// Managed certificates (issue 18) that need an operator: failed, or issued and expiring soon. They
// are a note in the router component's detail, never a reason for it (or the cluster) to be
// unhealthy: a route with a failed certificate still serves HTTP. Read from the route records in
// the cluster store (`routes/http/…`, with their `managed_certificate` state) at most every 30 s,
// in the background: the list holds every route, too much to read once a second.

export const ROUTES_HTTP_PREFIX = 'routes/http/';
export const SOON_MS = 7 * 24 * 3600 * 1000;
export const CERTIFICATES_REFRESH_MS = 30_000;

export interface CertificateNote {
  domain: string;
  route: string;
  status: string;
  expires_at?: string;
  last_error?: string;
}

interface StoredRoute {
  id?: string;
  type?: string;
  managed_certificate?: { domain?: string; status?: string; expires_at?: string; last_error?: string };
}

/** The notes for a list of stored route values (JSON), oldest expiry first. */
export function certificateNotes(
  values: readonly string[],
  now: number,
  soonMs = SOON_MS,
): CertificateNote[] {
  const notes: CertificateNote[] = [];
  for (const v of values) {
    let r: StoredRoute;
    try {
      r = JSON.parse(v) as StoredRoute;
    } catch {
      continue;
    }
    const m = r?.managed_certificate;
    if (r?.type !== 'http' || !m?.domain || !m.status) continue;
    const expires = m.expires_at ? Date.parse(m.expires_at) : Number.NaN;
    const soon = m.status !== 'pending' && expires - now < soonMs;
    if (m.status !== 'failed' && !soon) continue;
    const note: CertificateNote = { domain: m.domain, route: `http/${r.id ?? ''}`, status: m.status };
    if (m.expires_at) note.expires_at = m.expires_at;
    if (m.last_error) note.last_error = m.last_error;
    notes.push(note);
  }
  return notes.sort((a, b) => (a.expires_at ?? '').localeCompare(b.expires_at ?? ''));
}

export interface CertificateWatchOptions {
  /** The values of the keys under a prefix (the cluster store, needs the cluster key). */
  list(prefix: string): Promise<string[]>;
  refreshMs?: number;
  now?: () => number;
}

/** The latest notes, refreshed in the background; a failed read keeps the last ones. */
export class CertificateWatch {
  private notes: CertificateNote[] = [];
  private loadedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;
  private attempted = false;

  constructor(private readonly opts: CertificateWatchOptions) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  private refresh(): Promise<void> {
    this.loading ??= this.opts
      .list(ROUTES_HTTP_PREFIX)
      .then((values) => {
        this.notes = certificateNotes(values, this.now());
        this.loadedAt = this.now();
      })
      .catch(() => {
        // Kept: the router's own health does not depend on this read.
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /**
   * The notes. When they are due a refresh starts in the background; only the very first read is
   * waited for, and at most `firstWaitMs`, so a slow store never makes a round late.
   */
  async current(firstWaitMs = 500): Promise<CertificateNote[]> {
    if (this.now() - this.loadedAt >= (this.opts.refreshMs ?? CERTIFICATES_REFRESH_MS)) {
      const done = this.refresh();
      if (!this.attempted) {
        this.attempted = true;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise((r) => (timer = setTimeout(r, firstWaitMs)))]);
        clearTimeout(timer);
      }
    }
    return this.notes;
  }
}
