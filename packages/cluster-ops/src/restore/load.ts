import { verifyBackup } from '@flynn-edge/backup';
import { backedUpApp, type RestoreContext, restoreContext } from './context.js';

// Before any host is touched (§9.2 steps 1 and 3): the whole file verified, then the environment
// the manifest's steps read, taken from the backup — its domain (a different CLUSTER_DOMAIN is
// ignored, with a message), and the keys and certificate the generating steps would otherwise
// make new, so the final `flynn cluster add -p <pin>` line names the restored certificate.

export async function loadBackup(file: string): Promise<RestoreContext> {
  return restoreContext(await verifyBackup(file));
}

export function describeBackup(ctx: RestoreContext): string {
  const m = ctx.archive.manifest;
  return `backup ${ctx.archive.file} verified: ${m.kv.count} keys, ${m.artifacts.length} artifacts, ${m.volumes.length} volumes${m.volumes_included ? '' : ' (volumes left out)'}, domain ${m.cluster.domain}, created ${m.created_at}`;
}

export function restoreEnv(
  ctx: RestoreContext,
  env: Record<string, string | undefined>,
  warn: (line: string) => void,
): Record<string, string | undefined> {
  const domain = ctx.archive.manifest.cluster.domain;
  if (env.CLUSTER_DOMAIN && env.CLUSTER_DOMAIN !== domain)
    warn(`CLUSTER_DOMAIN=${env.CLUSTER_DOMAIN} ignored: the backup's domain ${domain} is used`);
  const router = backedUpApp(ctx, 'router')?.release?.env ?? {};
  const status = backedUpApp(ctx, 'status')?.release?.env ?? {};
  const out: Record<string, string | undefined> = { ...env, CLUSTER_DOMAIN: domain };
  if (router.COOKIE_KEY) out.COOKIE_KEY = router.COOKIE_KEY;
  if (status.AUTH_KEY) out.STATUS_KEY = status.AUTH_KEY;
  if (router.TLSCERT && router.TLSKEY) {
    out.TLS_CERT = router.TLSCERT;
    out.TLS_KEY = router.TLSKEY;
  }
  return out;
}
