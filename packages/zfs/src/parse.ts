// Parsers for zpool/zfs output. Two dialects exist:
// - OpenZFS (ZFS on Linux 0.8+): `zpool status` prints `scan:`, `zfs list -p` gives exact numbers.
// - zfs-fuse (Debian's userspace ZFS, pool version 23): `zpool status` prints `scrub:`, there is no
//   `zfs list -p` (so sizes come as "112K") and no `zfs get -t`.
// Everything else is read from `-H -o` column output (tab separated, no header), which both print.

export type ScanKind = 'none' | 'resilver' | 'scrub';
export type ScanState = 'none' | 'in_progress' | 'completed' | 'canceled';

export interface ScanStatus {
  kind: ScanKind;
  state: ScanState;
  /** Percentage done while in progress, when printed. */
  percentDone?: number;
  /** The text after `scan:`/`scrub:`, continuation lines joined with a space. */
  raw: string;
}

export interface Vdev {
  name: string;
  state: string;
  read?: string;
  write?: string;
  cksum?: string;
  /** Trailing text such as "(resilvering)" or "31.4M resilvered". */
  note?: string;
  children: Vdev[];
}

export interface PoolStatus {
  name: string;
  /** ONLINE, DEGRADED, FAULTED, OFFLINE, UNAVAIL, REMOVED, SUSPENDED … */
  state: string;
  scan: ScanStatus;
  /** The pool's root vdev (its name is the pool's) with the data vdevs as children. */
  config?: Vdev;
  /** Extra sections: logs, cache, spares, special, dedup. */
  sections: Record<string, Vdev[]>;
  errors?: string;
  /** Other `key: value` fields (status, action, see …). */
  fields: Record<string, string>;
}

/** Splits `-H` output: one row per line, tab-separated columns. */
export function parseColumns(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

/** Rows of `-H -o a,b,c` output as objects keyed by the requested column names. */
export function parseRows<K extends string>(stdout: string, columns: readonly K[]): Record<K, string>[] {
  return parseColumns(stdout).map((cols) => {
    const row = {} as Record<K, string>;
    columns.forEach((c, i) => {
      row[c] = cols[i] ?? '';
    });
    return row;
  });
}

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};

/**
 * A size as printed by zfs: an exact byte count (`-p`, OpenZFS) or a human one ("112K", "1.50G",
 * zfs-fuse and OpenZFS without -p; approximate by nature). "-" and "none" give undefined.
 */
export function parseSize(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === '-' || t === 'none') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGTPE]?)(?:i?B)?$/i.exec(t);
  if (!m) return undefined;
  const unit = UNITS[m[2].toUpperCase()];
  return Math.round(Number(m[1]) * unit);
}

function parseScan(raw: string): ScanStatus {
  const text = raw.replace(/\s+/g, ' ').trim();
  const lower = text.toLowerCase();
  const percent = /(\d+(?:\.\d+)?)% done/.exec(text);
  const status: ScanStatus = { kind: 'none', state: 'none', raw: text };
  if (percent) status.percentDone = Number(percent[1]);
  if (lower === '' || lower.startsWith('none requested')) return status;
  status.kind = lower.includes('resilver') ? 'resilver' : 'scrub';
  if (lower.includes('in progress')) status.state = 'in_progress';
  else if (lower.includes('cancel')) status.state = 'canceled';
  // zfs-fuse: "resilver completed after 0h0m with 0 errors on …";
  // OpenZFS: "resilvered 31.4M in 00:00:01 with 0 errors on …", "scrub repaired 0B in … with 0 errors".
  else if (/completed|resilvered .* with|repaired .* with/.test(lower)) status.state = 'completed';
  return status;
}

const SECTION_NAMES = new Set(['logs', 'cache', 'spares', 'special', 'dedup']);

function parseConfig(lines: string[]): { root?: Vdev; sections: Record<string, Vdev[]> } {
  const sections: Record<string, Vdev[]> = {};
  let root: Vdev | undefined;
  // stack[i] = the last vdev seen at depth i of the current tree
  let stack: Vdev[] = [];
  let current: Vdev[] | undefined;
  let headerSeen = false;
  for (const line of lines) {
    if (line.trim() === '') continue;
    const body = line.replace(/^\t/, '');
    const indent = /^ */.exec(body)![0].length;
    const cols = body.trim().split(/\s+/);
    if (!headerSeen) {
      if (cols[0] === 'NAME' && cols[1] === 'STATE') headerSeen = true;
      continue;
    }
    const depth = Math.floor(indent / 2);
    if (depth === 0 && SECTION_NAMES.has(cols[0]) && cols.length === 1) {
      current = sections[cols[0]] = [];
      stack = [];
      continue;
    }
    const [name, state = '', read, write, cksum, ...rest] = cols;
    const vdev: Vdev = { name, state, children: [] };
    if (read !== undefined) vdev.read = read;
    if (write !== undefined) vdev.write = write;
    if (cksum !== undefined) vdev.cksum = cksum;
    if (rest.length > 0) vdev.note = rest.join(' ');
    if (depth === 0) {
      if (!root) {
        root = vdev;
        stack = [vdev];
        current = undefined;
      } else {
        // A top-level entry of a section (spares have no depth-1 parent).
        current?.push(vdev);
        stack = [vdev];
      }
      continue;
    }
    if (current) {
      // Inside logs/cache/spares: depth 1 entries are the section's vdevs.
      if (depth === 1) {
        current.push(vdev);
        stack = [vdev, vdev];
      } else {
        stack[depth - 1]?.children.push(vdev);
        stack[depth] = vdev;
      }
      continue;
    }
    const parent = stack[depth - 1] ?? stack[stack.length - 1];
    parent?.children.push(vdev);
    stack[depth] = vdev;
    stack.length = depth + 1;
  }
  return { root, sections };
}

/** Parses the output of `zpool status <pool>` (one pool), in either dialect. */
export function parsePoolStatus(stdout: string): PoolStatus {
  const lines = stdout.split('\n');
  const fields: Record<string, string> = {};
  let key: string | undefined;
  const configLines: string[] = [];
  let inConfig = false;
  for (const line of lines) {
    const m = /^\s*([a-z]+):\s?(.*)$/.exec(line);
    if (m && !line.startsWith('\t')) {
      key = m[1];
      if (key === 'config') {
        inConfig = true;
        continue;
      }
      inConfig = false;
      fields[key] = m[2].trim();
      continue;
    }
    if (inConfig) configLines.push(line);
    else if (key && line.trim() !== '') fields[key] = `${fields[key]} ${line.trim()}`.trim();
  }
  const { root, sections } = parseConfig(configLines);
  const scanText = fields.scan ?? fields.scrub ?? '';
  const status: PoolStatus = {
    name: fields.pool ?? root?.name ?? '',
    state: fields.state ?? root?.state ?? 'UNKNOWN',
    scan: parseScan(scanText),
    sections,
    fields: {},
  };
  if (root) status.config = root;
  if (fields.errors !== undefined) status.errors = fields.errors;
  for (const [k, v] of Object.entries(fields)) {
    if (!['pool', 'state', 'scan', 'scrub', 'errors'].includes(k)) status.fields[k] = v;
  }
  return status;
}

/** Every vdev in the tree, depth first (root included). */
export function flattenVdevs(root: Vdev | undefined): Vdev[] {
  if (!root) return [];
  return [root, ...root.children.flatMap((c) => flattenVdevs(c))];
}

/** True while a resilver runs: the scan line says so, or a vdev is marked "(resilvering)". */
export function isResilvering(status: PoolStatus): boolean {
  if (status.scan.kind === 'resilver' && status.scan.state === 'in_progress') return true;
  return flattenVdevs(status.config).some((v) => /resilvering/i.test(v.note ?? ''));
}
