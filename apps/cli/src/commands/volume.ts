import { expectOk, getJson, request } from '../discoverd-http.js';
import { CliError, formatTable, printJson, println } from '../output.js';
import { ago } from './ps.js';

// `flynn-host volume list|create|delete|snapshot`: the volume part of a host's API (spec §4.5).
// The host is --host (host:port of its API), default $FLYNN_HOST_ADDR or 127.0.0.1:1113.

interface VolumeInfo {
  id: string;
  type: string;
  meta?: Record<string, string>;
  created_at: string;
}

export interface VolumeOptions {
  host?: string;
  clusterKey?: string;
  json?: boolean;
}

function hostUrl(host: string | undefined): string {
  const h = host || process.env.FLYNN_HOST_ADDR || '127.0.0.1:1113';
  return h.startsWith('http') ? h : `http://${h}`;
}

export async function volumeList(opts: VolumeOptions): Promise<void> {
  const { value } = await getJson<VolumeInfo[]>(`${hostUrl(opts.host)}/storage/volumes`, opts);
  const vols = value.sort((a, b) => b.created_at.localeCompare(a.created_at));
  if (opts.json) return printJson(vols);
  const now = Date.now();
  println(
    formatTable(
      ['ID', 'TYPE', 'CREATED'],
      vols.map((v) => [v.id, v.type, ago(v.created_at, now)]),
    ),
  );
}

async function send(method: string, url: string, opts: VolumeOptions, body?: unknown): Promise<unknown> {
  const answer = expectOk(method, await request(method, url, { clusterKey: opts.clusterKey, body }));
  if (answer.text.trim() === '') return undefined;
  try {
    return JSON.parse(answer.text);
  } catch {
    throw new CliError(`${method} ${url} answered invalid JSON`);
  }
}

export async function volumeCreate(opts: VolumeOptions & { provider?: string }): Promise<void> {
  const info = (await send(
    'POST',
    `${hostUrl(opts.host)}/storage/providers/${opts.provider ?? 'default'}/volumes`,
    opts,
    {},
  )) as VolumeInfo;
  if (opts.json) return printJson(info);
  println(info.id);
}

export async function volumeDelete(ids: string[], opts: VolumeOptions): Promise<void> {
  for (const id of ids) {
    await send('DELETE', `${hostUrl(opts.host)}/storage/volumes/${encodeURIComponent(id)}`, opts);
    println(`deleted ${id}`);
  }
}

export async function volumeSnapshot(id: string, opts: VolumeOptions): Promise<void> {
  const info = (await send(
    'PUT',
    `${hostUrl(opts.host)}/storage/volumes/${encodeURIComponent(id)}/snapshot`,
    opts,
  )) as VolumeInfo;
  if (opts.json) return printJson(info);
  println(info.id);
}
