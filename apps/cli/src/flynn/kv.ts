import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { type Command, InvalidArgumentError } from 'commander';
import { type Answer, answerError, NetworkError, request, sleep } from '../discoverd-http.js';
import { eachChunk, openStream } from '../ndjson.js';
import { CliError } from '../output.js';
import type { ContextOf } from './route.js';
import type { ClusterTarget } from './target.js';

// `flynn kv`: the operator's window into the cluster store (discoverd's /kv/ API,
// packages/discoverd-server/README-kv.md). Reads are linearizable (a follower's 307 is followed
// with the key); writes bypass every app-level check, so they need --yes.

interface KvEntry {
  key: string;
  value: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

interface WatchMessage {
  revision: number;
  events: { type: 'put' | 'delete'; key: string; value?: string; prev_revision?: number }[];
}

/** `/kv/<key>`: each segment percent-encoded, slashes kept; `.`/`..` segments cannot be sent. */
export function kvPath(key: string): string {
  if (key === '') throw new CliError('the key must not be empty', 2);
  const segments = key.split('/');
  if (segments.some((s) => s === '.' || s === '..')) {
    throw new CliError(`key ${JSON.stringify(key)} has a "." or ".." segment, which a URL cannot carry`, 2);
  }
  return `/kv/${segments.map(encodeURIComponent).join('/')}`;
}

function parseRevision(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new InvalidArgumentError('want a non-negative integer');
  return Number(value);
}

function refuseWithoutYes(what: string, yes: boolean | undefined): void {
  if (!yes) throw new CliError(`kv ${what} changes the cluster store directly; pass --yes`, 2);
}

/** One request to the first discoverd server that answers at all (the rest is the answer's). */
async function kvRequest(
  target: ClusterTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  let last: NetworkError | undefined;
  for (const server of target.discoverd) {
    try {
      return await request(method, `${server}${path}`, { clusterKey: target.clusterKey, body });
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err;
      last = err;
    }
  }
  throw new CliError(`no discoverd server answered: ${last?.message ?? 'no servers'}`);
}

async function kvJson<T>(target: ClusterTarget, method: string, path: string, body?: unknown): Promise<T> {
  const answer = await kvRequest(target, method, path, body);
  if (answer.status < 200 || answer.status >= 300) throw answerError(method, answer);
  return JSON.parse(answer.text) as T;
}

async function list(
  target: ClusterTarget,
  prefix: string,
  limit?: number,
): Promise<{ revision: number; entries: KvEntry[] }> {
  const q = new URLSearchParams(prefix ? { prefix } : {});
  if (limit) q.set('limit', String(limit));
  return kvJson(target, 'GET', `/kv/${q.size > 0 ? `?${q}` : ''}`);
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A watch event as one line: `put KEY N bytes` (values may be private keys) or `delete KEY`. */
export function formatWatchEvent(ev: WatchMessage['events'][number]): string {
  if (ev.type === 'delete') return `delete ${ev.key}`;
  return `put ${ev.key} ${Buffer.byteLength(ev.value ?? '')} bytes`;
}

/** How many times in a row every server may fail to serve the watch before it gives up. */
const WATCH_ATTEMPTS = 5;

/**
 * Prints the changes under `prefix` from `start` on until SIGINT/SIGTERM (exit 0). A dropped stream
 * is resumed from the next revision, on the next server; compaction past that point is an error.
 */
async function watch(target: ClusterTarget, prefix: string, start: number, json: boolean): Promise<void> {
  const { SseParser } = await import('@flynn-edge/discoverd-client');
  let next = start;
  let stopped = false;
  let current: IncomingMessage | undefined;
  const stop = () => {
    stopped = true;
    current?.destroy();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let failures = 0;
  try {
    for (let i = 0; !stopped; i++) {
      const server = target.discoverd[i % target.discoverd.length];
      const q = new URLSearchParams({ watch: 'true', start_revision: String(next) });
      if (prefix) q.set('prefix', prefix);
      const url = `${server}/kv/?${q}`;
      try {
        current = await openStream(url, target.clusterKey);
        if (stopped) break;
        failures = 0;
        const parser = new SseParser();
        await eachChunk<string>(url, current, (chunk) => {
          for (const msg of parser.push(chunk)) {
            if (msg.event === 'compacted') {
              throw new CliError(
                `kv watch: the history before revision ${next} is compacted; list and watch again`,
              );
            }
            if (msg.event === 'error') throw new NetworkError('GET', url, msg.data);
            const m = JSON.parse(msg.data) as WatchMessage;
            for (const ev of m.events)
              print(json ? JSON.stringify({ revision: m.revision, ...ev }) : formatWatchEvent(ev));
            next = m.revision + 1;
          }
        });
      } catch (err) {
        if (stopped) break;
        if (!(err instanceof NetworkError)) throw err;
        if (++failures >= WATCH_ATTEMPTS * target.discoverd.length) {
          throw new CliError(`kv watch: no discoverd server serves the watch: ${err.message}`);
        }
      }
      if (!stopped) await sleep(failures > 0 ? 1_000 : 100);
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function readValue(value: string): string {
  if (value !== '-') return value;
  try {
    return readFileSync(0, 'utf8');
  } catch (err) {
    throw new CliError(`reading the value from stdin failed: ${(err as Error).message}`);
  }
}

export function registerKvCommands(program: Command, target: ContextOf): void {
  const kv = program
    .command('kv')
    .description('read, watch and (with --yes) change the cluster store (no -a needed)');

  kv.command('list')
    .description('the keys under PREFIX, one a line (all keys without PREFIX)')
    .argument('[prefix]', 'key prefix', '')
    .option('--json', 'print the entries (key, value, revisions) as JSON')
    .action(async (prefix: string, opts: { json?: boolean }, cmd: Command) => {
      const { entries } = await list((await target(cmd)).target, prefix);
      if (opts.json) print(JSON.stringify(entries, null, 2));
      else for (const e of entries) print(e.key);
    });

  kv.command('get')
    .description("print KEY's value")
    .argument('<key>', 'the key')
    .option('--json', 'print the entry (key, value, revisions) as JSON')
    .action(async (key: string, opts: { json?: boolean }, cmd: Command) => {
      const path = kvPath(key);
      const ctx = await target(cmd);
      const answer = await kvRequest(ctx.target, 'GET', path);
      if (answer.status === 404 && /"object_not_found"/.test(answer.text)) {
        throw new CliError(`key not found: ${key}`);
      }
      if (answer.status !== 200) throw answerError('GET', answer);
      const entry = JSON.parse(answer.text) as KvEntry;
      print(opts.json ? JSON.stringify(entry, null, 2) : entry.value);
    });

  kv.command('watch')
    .description('print the changes under PREFIX as they happen, until interrupted')
    .argument('[prefix]', 'key prefix', '')
    .option('--json', 'print each event as a JSON line')
    .option(
      '--start-revision <n>',
      'start with the changes at this revision (default: from now)',
      parseRevision,
    )
    .action(async (prefix: string, opts: { json?: boolean; startRevision?: number }, cmd: Command) => {
      const ctx = await target(cmd);
      // "From now" is pinned to a revision so that a reconnect resumes rather than skips.
      const start = opts.startRevision || (await list(ctx.target, prefix, 1)).revision + 1;
      await watch(ctx.target, prefix, start, opts.json === true);
    });

  kv.command('put')
    .description('set KEY to VALUE (- reads it from stdin); needs --yes')
    .argument('<key>', 'the key')
    .argument('<value>', 'the value, or - for stdin')
    .option('--yes', 'really change the cluster store')
    .option('--json', 'print the answer as JSON')
    .action(async (key: string, value: string, opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
      refuseWithoutYes('put', opts.yes);
      const path = kvPath(key);
      const ctx = await target(cmd);
      const r = await kvJson<{ revision: number }>(ctx.target, 'PUT', path, { value: readValue(value) });
      print(opts.json ? JSON.stringify(r) : `put ${key} (revision ${r.revision})`);
    });

  kv.command('delete')
    .description('delete KEY, or with --prefix every key under it; needs --yes')
    .argument('[key]', 'the key')
    .option('--prefix <prefix>', 'delete every key that starts with this (not empty)')
    .option('--yes', 'really change the cluster store')
    .option('--json', 'print the answer as JSON')
    .action(
      async (
        key: string | undefined,
        opts: { prefix?: string; yes?: boolean; json?: boolean },
        cmd: Command,
      ) => {
        if ((key === undefined) === (opts.prefix === undefined)) {
          throw new CliError('kv delete takes KEY or --prefix PREFIX (one of them)', 2);
        }
        if (opts.prefix === '') throw new CliError('kv delete --prefix needs a non-empty prefix', 2);
        refuseWithoutYes('delete', opts.yes);
        const path =
          key === undefined ? `/kv/?${new URLSearchParams({ prefix: opts.prefix ?? '' })}` : kvPath(key);
        const ctx = await target(cmd);
        const r = await kvJson<{ revision: number; deleted: number }>(ctx.target, 'DELETE', path);
        print(opts.json ? JSON.stringify(r) : `deleted ${r.deleted} (revision ${r.revision})`);
      },
    );
}
