/** Lower-case and drop one trailing dot, so `Example.COM.` and `example.com` compare equal. */
export function normaliseHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * Does a certificate whose names are `names` cover `host`?
 * Exact names match case-insensitively. `*.example.com` covers exactly one extra, non-empty
 * label (`a.example.com`), never `example.com` itself nor `a.b.example.com`. Only a whole
 * left-most `*` label is a wildcard; partial wildcards such as `f*.example.com` match only
 * literally.
 */
export function certificateCovers(names: readonly string[], host: string): boolean {
  const h = normaliseHost(host);
  if (h === '') return false;
  for (const raw of names) {
    const name = normaliseHost(raw);
    if (name === '') continue;
    if (name === h) return true;
    if (name.startsWith('*.')) {
      const suffix = name.slice(2);
      // A bare `*.` or `*.com`-style single-label suffix is too broad to honour.
      if (suffix === '' || !suffix.includes('.') || suffix.includes('*')) continue;
      const dot = h.indexOf('.');
      if (dot <= 0) continue;
      const label = h.slice(0, dot);
      if (label.includes('*')) continue;
      if (h.slice(dot + 1) === suffix) return true;
    }
  }
  return false;
}
