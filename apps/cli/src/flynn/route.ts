import { readFileSync } from 'node:fs';
import type { ManagedCertificate } from '@flynn-edge/router-core';
import { type Command, InvalidArgumentError } from 'commander';
import { type Answer, answerError, getJson, NetworkError, request } from '../discoverd-http.js';
import { CliError, formatTable } from '../output.js';
import type { ClusterTarget } from './target.js';

// `flynn route`: an app's routes, as Flynn's cli/route.go (usage, flags, table, messages), through
// the router's route API (spec flynn-compat §2.2–2.3). An app owns the routes whose parent_ref is
// `controller/apps/<app id>`; a domain another app routes is refused before anything is written.

/** What every app command is given: where to send requests and, with `-a`, the app. */
export interface FlynnRequestContext {
  target: ClusterTarget;
  app?: { id: string; name: string };
}

export type ContextOf = (cmd: Command) => Promise<FlynnRequestContext>;

export interface RouteJson {
  type: 'http' | 'tcp';
  id: string;
  parent_ref?: string;
  service: string;
  port?: number;
  leader: boolean;
  domain?: string;
  path?: string;
  sticky?: boolean;
  certificate?: { cert?: string; key?: string };
  tls_cert?: string;
  tls_key?: string;
  disable_keep_alives?: boolean;
  drain_backends?: boolean;
  managed_certificate?: ManagedCertificate | null | { domain?: string; renew?: boolean };
  [field: string]: unknown;
}

function managedState(r: RouteJson): ManagedCertificate | undefined {
  const m = r.managed_certificate;
  return m && typeof (m as ManagedCertificate).status === 'string' ? (m as ManagedCertificate) : undefined;
}

export function parentRef(appId: string): string {
  return `controller/apps/${appId}`;
}

/** Flynn's FormattedID: `http/<id>`. */
export function formattedId(r: Pick<RouteJson, 'type' | 'id'>): string {
  return `${r.type}/${r.id}`;
}

export function parsePort(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) {
    throw new InvalidArgumentError('want a port from 1 to 65535');
  }
  return Number(value);
}

/** `DOMAIN[/PATH]` as Flynn splits it (url.Parse of `http://` + the argument). */
export function parseDomainArg(arg: string): { domain: string; path?: string } {
  const slash = arg.indexOf('/');
  const domain = (slash < 0 ? arg : arg.slice(0, slash)).trim();
  const path = slash < 0 ? undefined : arg.slice(slash);
  if (domain === '') throw new InvalidArgumentError('want DOMAIN[/PATH], the domain is missing');
  if (/[\s?#@]/.test(arg) || domain.includes(':')) {
    throw new InvalidArgumentError('want DOMAIN[/PATH]: a host name, without a port, query or credentials');
  }
  return path === undefined || path === '/' ? { domain } : { domain, path };
}

/**
 * Flynn's route table: ROUTE SERVICE ID STICKY LEADER PATH, in the API's order (newest first).
 * When a route has a managed certificate, a CERT column (`managed:<status>`) is added; without
 * any, the table is Flynn's exactly.
 */
export function formatRoutes(routes: RouteJson[]): string {
  const rows = routes.map((r) => {
    if (r.type === 'tcp') {
      return [`tcp:${r.port ?? 0}`, r.service, formattedId(r), '', String(r.leader), ''];
    }
    const https = r.certificate !== undefined || !!r.tls_cert;
    const host = r.port ? `${r.domain}:${r.port}` : `${r.domain}`;
    return [
      `${https ? 'https' : 'http'}:${host}`,
      r.service,
      formattedId(r),
      String(r.sticky === true),
      String(r.leader),
      r.path ?? '/',
    ];
  });
  const header = ['ROUTE', 'SERVICE', 'ID', 'STICKY', 'LEADER', 'PATH'];
  if (!routes.some((r) => managedState(r))) return formatTable(header, rows);
  const certs = routes.map((r) => {
    const m = managedState(r);
    return m ? `managed:${m.status}` : '';
  });
  return formatTable(
    [...header, 'CERT'],
    rows.map((row, i) => [...row, certs[i]!]),
  );
}

/** `flynn route show`: the route as `field: value` lines, the managed certificate's state last. */
export function formatRouteDetail(r: RouteJson): string {
  const lines: [string, unknown][] = [
    ['ID', formattedId(r)],
    ['Service', r.service],
    [r.type === 'tcp' ? 'Port' : 'Domain', r.type === 'tcp' ? r.port : r.domain],
  ];
  if (r.type === 'http') {
    lines.push(['Path', r.path ?? '/'], ['Port', r.port || 'default'], ['Sticky', r.sticky === true]);
  }
  lines.push(['Leader', r.leader]);
  const m = managedState(r);
  if (m) {
    lines.push(['Managed cert', `${m.domain} (${m.status})`]);
    if (m.expires_at) lines.push(['Cert expires', m.expires_at]);
    if (m.last_error) lines.push(['Last error', m.last_error]);
    if (m.next_attempt_at) lines.push(['Next attempt', m.next_attempt_at]);
  } else if (r.certificate) {
    lines.push(['Certificate', (r.certificate as { id?: string }).id ?? 'yes']);
  }
  return lines.map(([k, v]) => `${`${k}:`.padEnd(14)}${String(v)}`).join('\n');
}

/** The route without its certificate's PEM (no private key on a terminal). */
export function withoutPem(r: RouteJson): RouteJson {
  if (!r.certificate) return r;
  const { cert: _c, key: _k, ...rest } = r.certificate;
  return { ...r, certificate: rest };
}

/**
 * `add http [--managed-cert [NAME]] [DOMAIN]`: the issue writes `--managed-cert DOMAIN`, where
 * commander takes DOMAIN as the option's value. With one name given it is the route's domain
 * (and the certificate's); with both, the option's value names the certificate.
 */
export function resolveAddDomain(
  arg: string | undefined,
  managedCert: string | boolean | undefined,
): { route: { domain: string; path?: string }; managed?: { domain?: string } } {
  const named = typeof managedCert === 'string' ? managedCert : undefined;
  if (arg === undefined && named === undefined) {
    throw new CliError("missing required argument 'domain'", 2);
  }
  const parse = (v: string) => {
    try {
      return parseDomainArg(v);
    } catch (err) {
      throw new CliError((err as Error).message, 2);
    }
  };
  if (arg === undefined) return { route: parse(named!), managed: {} };
  const route = parse(arg);
  if (managedCert === undefined || managedCert === false) return { route };
  return { route, managed: named === undefined ? {} : { domain: named } };
}

export interface ManagedFlags {
  managedCert?: string | boolean;
  renewCert?: boolean;
}

/** Bad usage, found before anything is asked of the cluster. */
export function checkManagedFlags({ managedCert, renewCert }: ManagedFlags): void {
  if (managedCert !== undefined && renewCert) {
    throw new CliError('--renew-cert cannot be combined with --managed-cert or --no-managed-cert', 2);
  }
}

/**
 * What `route update` sends as `managed_certificate` (undefined: leave it as it is, which the API
 * does when a client echoes the route). The API checks the rest (only an issued one renews).
 */
export function managedUpdate(
  current: RouteJson,
  flags: ManagedFlags,
): RouteJson['managed_certificate'] | undefined {
  checkManagedFlags(flags);
  const { managedCert, renewCert } = flags;
  if (current.type === 'tcp' && (managedCert !== undefined || renewCert)) {
    throw new CliError('--managed-cert, --no-managed-cert and --renew-cert are for HTTP routes only', 2);
  }
  if (renewCert) {
    if (!managedState(current))
      throw new CliError(`route ${formattedId(current)} has no managed certificate`);
    return { renew: true };
  }
  if (managedCert === false) return null;
  if (managedCert === true) return {};
  if (typeof managedCert === 'string') return { domain: managedCert };
  return undefined;
}

/**
 * The PUT body of `route update`: the current route with the flags applied. Unlike Flynn (which
 * dropped it), an update without -c/-k keeps the route's certificate by echoing it, except on a
 * managed route: the issuer may replace that one between our GET and PUT, so it is not sent
 * (the API keeps it). Turning management on keeps the route's own certificate until one is issued.
 */
export function updateBody(
  current: RouteJson,
  opts: UpdateOpts & { disableKeepAlives?: boolean; enableKeepAlives?: boolean },
  managed: RouteJson['managed_certificate'] | undefined,
  tls: { cert: string; key: string } | undefined,
): RouteJson {
  const next: RouteJson = { ...current };
  if (managed !== undefined) next.managed_certificate = managed;
  if (managedState(current) || tls) {
    delete next.certificate;
    delete next.tls_cert;
    delete next.tls_key;
  }
  if (opts.service) next.service = opts.service;
  if (opts.leader !== undefined) next.leader = opts.leader;
  if (current.type === 'tcp') {
    if (tls || opts.sticky !== undefined || opts.disableKeepAlives || opts.enableKeepAlives) {
      throw new CliError('-c/-k, --sticky and the keep-alive flags are for HTTP routes only', 2);
    }
    return next;
  }
  if (tls) {
    next.tls_cert = tls.cert;
    next.tls_key = tls.key;
  }
  if (opts.sticky !== undefined) next.sticky = opts.sticky;
  if (opts.disableKeepAlives) next.disable_keep_alives = true;
  else if (opts.enableKeepAlives) next.disable_keep_alives = false;
  return next;
}

/** A route ID as given: `http/<id>`, `tcp/<id>`, or a bare id (its type is looked up). */
export function parseRouteId(arg: string): { type?: 'http' | 'tcp'; id: string } {
  const m = /^(http|tcp)\/(.+)$/.exec(arg);
  if (m) return { type: m[1] as 'http' | 'tcp', id: m[2] };
  if (arg.includes('/')) throw new CliError(`Route type ${arg.split('/')[0]} not supported.`);
  return { id: arg };
}

const PRIVATE_KEY_BLOCK = /^[A-Z0-9 ]*PRIVATE KEY$/;

/** The PEM blocks of `text` whose type matches, re-joined (Flynn's readPEM for stdin). */
export function pemBlocks(text: string, type: RegExp): string {
  const out: string[] = [];
  for (const m of text.matchAll(/-----BEGIN ([^-]+)-----[\s\S]*?-----END \1-----/g)) {
    if (type.test(m[1])) out.push(m[0]);
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** `-c CERT -k KEY`: both or neither; `-` reads stdin once for both (Flynn's parseTLSCert). */
export function readTlsPair(certPath?: string, keyPath?: string): { cert: string; key: string } | undefined {
  if (!certPath && !keyPath) return undefined;
  if (!certPath || !keyPath)
    throw new CliError('Both the TLS certificate AND private key need to be specified');
  let stdin: string | undefined;
  const read = (what: string, path: string, type: RegExp): string => {
    let text: string;
    try {
      if (path === '-') {
        stdin ??= readFileSync(0, 'utf8');
        text = stdin;
      } else {
        text = readFileSync(path, 'utf8');
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new CliError(
        `Failed to read TLS ${what}: ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      );
    }
    const pem = pemBlocks(text, type);
    if (pem === '') {
      throw new CliError(
        `Failed to read TLS ${what}: no ${what === 'cert' ? 'CERTIFICATE' : 'PRIVATE KEY'} PEM block in ${path === '-' ? 'stdin' : path}`,
      );
    }
    // From a file the whole text goes (a chain with its order); from stdin only the matching blocks.
    return path === '-' ? pem : text;
  };
  return { cert: read('cert', certPath, /^CERTIFICATE$/), key: read('key', keyPath, PRIVATE_KEY_BLOCK) };
}

/** The router API: the first `router-api` instance that answers. */
export class RouterApi {
  private base: string[] | undefined;

  constructor(readonly target: ClusterTarget) {}

  private async bases(): Promise<string[]> {
    if (this.base) return this.base;
    let last: CliError | undefined;
    for (const server of this.target.discoverd) {
      try {
        const { value } = await getJson<{ addr: string }[]>(`${server}/services/router-api/instances`, {
          clusterKey: this.target.clusterKey,
        });
        if (value.length === 0) break;
        this.base = value.map((i) => this.target.serviceUrl('router-api', i.addr));
        return this.base;
      } catch (err) {
        if (!(err instanceof CliError)) throw err;
        if (/ answered 404/.test(err.message)) break;
        last = err;
      }
    }
    if (last) throw new CliError(`no discoverd server answered: ${last.message}`);
    throw new CliError('no router-api instance is registered in discoverd (is a router running?)');
  }

  /** One request to the first router that answers at all. */
  async send(method: string, path: string, body?: unknown): Promise<Answer> {
    let last: NetworkError | undefined;
    for (const base of await this.bases()) {
      try {
        return await request(method, `${base}${path}`, { clusterKey: this.target.clusterKey, body });
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        last = err;
      }
    }
    throw new CliError(`no router answered: ${last?.message}`);
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body);
    if (answer.status < 200 || answer.status >= 300) throw routerError(method, answer);
    try {
      return JSON.parse(answer.text) as T;
    } catch {
      throw new CliError(`${method} ${answer.url} answered invalid JSON: ${answer.text.slice(0, 100)}`);
    }
  }
}

/**
 * A router answer as one line, as Flynn's client printed its errors (`conflict: Duplicate route`),
 * with our router's detail (which field, why) when it gave one.
 */
export function routerError(method: string, answer: Answer): CliError {
  try {
    const env = JSON.parse(answer.text) as {
      code?: unknown;
      message?: unknown;
      detail?: { field?: unknown; reason?: unknown };
    };
    if (typeof env?.code === 'string' && typeof env.message === 'string' && answer.status !== 401) {
      const d = env.detail;
      const why =
        typeof d?.reason === 'string'
          ? ` (${typeof d.field === 'string' ? `${d.field}: ` : ''}${d.reason})`
          : '';
      return new CliError(`${env.code}: ${env.message}${why}`.replace(/\s*\n\s*/g, ' '));
    }
  } catch {
    // not an envelope
  }
  return answerError(method, answer);
}

function needApp(ctx: FlynnRequestContext): { id: string; name: string } {
  if (!ctx.app) throw new CliError('flynn route needs an app: -a NAME', 2);
  return ctx.app;
}

async function appRoutes(api: RouterApi, appId: string): Promise<RouteJson[]> {
  return api.json<RouteJson[]>('GET', `/routes?parent_ref=${encodeURIComponent(parentRef(appId))}`);
}

/** The app's route `arg`; another app's route, or none, is an error (the controller's app scope). */
async function appRoute(api: RouterApi, appId: string, arg: string): Promise<RouteJson> {
  const ref = parseRouteId(arg);
  let type = ref.type;
  if (!type) {
    const found = (await appRoutes(api, appId)).find((r) => r.id === ref.id);
    if (!found) throw new CliError(`route ${arg} not found`);
    type = found.type;
  }
  const answer = await api.send('GET', `/routes/${type}/${encodeURIComponent(ref.id)}`);
  if (answer.status === 404) throw new CliError(`route ${type}/${ref.id} not found`);
  if (answer.status !== 200) throw routerError('GET', answer);
  const route = JSON.parse(answer.text) as RouteJson;
  if (route.parent_ref !== parentRef(appId)) {
    throw new CliError(`route ${formattedId(route)} belongs to ${ownerName(route.parent_ref)}, not this app`);
  }
  return route;
}

function ownerName(ref: string | undefined): string {
  if (!ref) return 'no app (a route without parent_ref)';
  const m = /^controller\/apps\/(.+)$/.exec(ref);
  return m ? `app ${m[1]}` : ref;
}

/** Refuse a domain that another app (another parent_ref) already routes. */
async function checkDomainFree(api: RouterApi, appId: string, domain: string): Promise<void> {
  const want = domain.toLowerCase().replace(/\.$/, '');
  const routes = await api.json<RouteJson[]>('GET', '/routes');
  const other = routes.find(
    (r) => r.type === 'http' && r.domain?.toLowerCase() === want && r.parent_ref !== parentRef(appId),
  );
  if (other) {
    throw new CliError(
      `domain ${want} is already routed by ${ownerName(other.parent_ref)} (${formattedId(other)}); nothing created`,
    );
  }
}

interface AddHttpOpts {
  service?: string;
  port?: number;
  tlsCert?: string;
  tlsKey?: string;
  sticky?: boolean;
  leader?: boolean;
  drainBackends: boolean;
  disableKeepAlives?: boolean;
  managedCert?: string | boolean;
}

interface AddTcpOpts {
  service?: string;
  port?: number;
  leader?: boolean;
  drainBackends: boolean;
}

export interface UpdateOpts extends ManagedFlags {
  service?: string;
  tlsCert?: string;
  tlsKey?: string;
  sticky?: boolean;
  leader?: boolean;
  keepAlives?: boolean;
}

const USAGE = `
usage: flynn route
       flynn route add http [-s <service>] [-p <port>] [-c <tls-cert> -k <tls-key> | --managed-cert [<name>]] [--sticky] [--leader] [--no-leader] [--no-drain-backends] [--disable-keep-alives] <domain>
       flynn route add tcp [-s <service>] [-p <port>] [--leader] [--no-drain-backends]
       flynn route update <id> [-s <service>] [-c <tls-cert> -k <tls-key>] [--sticky] [--no-sticky] [--leader] [--no-leader] [--disable-keep-alives] [--enable-keep-alives] [--managed-cert [<name>] | --no-managed-cert | --renew-cert]
       flynn route show [--json] <id>
       flynn route remove <id>

With no arguments, shows a list of routes. <id> is as listed (http/<uuid>, tcp/<uuid>).

Examples:

  $ flynn route add http example.com
  $ flynn route add http example.com/path/
  $ flynn route add http --managed-cert example.com
  $ flynn route update http/<uuid> --renew-cert
  $ flynn route add tcp
  $ flynn route add tcp --leader`;

export function registerRouteCommands(program: Command, target: ContextOf): void {
  const route = program
    .command('route')
    .description('manage routes for application')
    .addHelpText('after', USAGE)
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await target(cmd);
      const app = needApp(ctx);
      const api = new RouterApi(ctx.target);
      const out = formatRoutes(await appRoutes(api, app.id));
      process.stdout.write(`${out}\n`);
    });

  const add = route.command('add').description('adds a route to an app');

  add
    .command('http')
    .description('route DOMAIN[/PATH] to the app')
    .argument('[domain]', 'DOMAIN[/PATH]')
    .option('-s, --service <service>', 'service name to route domain to (defaults to APPNAME-web)')
    .option('-p, --port <port>', 'port to accept traffic on', parsePort)
    .option('-c, --tls-cert <tls-cert>', 'path to PEM encoded certificate for TLS, - for stdin')
    .option('-k, --tls-key <tls-key>', 'path to PEM encoded private key for TLS, - for stdin')
    .option('--sticky', 'enable cookie-based sticky routing')
    .option('--leader', 'enable leader-only routing mode')
    .option('--no-leader', 'disable leader-only routing mode')
    .option('--no-drain-backends', "don't wait for in-flight requests to complete before stopping backends")
    .option('--disable-keep-alives', 'disable keep-alives between the router and backends for the route')
    .option(
      '--managed-cert [name]',
      "obtain and renew the route's certificate through ACME (default: DOMAIN)",
    )
    .action(async (domainArg: string | undefined, opts: AddHttpOpts, cmd: Command) => {
      const { route: arg, managed } = resolveAddDomain(domainArg, opts.managedCert);
      if (managed && (opts.tlsCert || opts.tlsKey)) {
        throw new CliError('--managed-cert cannot be combined with -c/-k', 2);
      }
      const tls = readTlsPair(opts.tlsCert, opts.tlsKey);
      const ctx = await target(cmd);
      const app = needApp(ctx);
      const api = new RouterApi(ctx.target);
      await checkDomainFree(api, app.id, arg.domain);
      const body: Record<string, unknown> = {
        type: 'http',
        parent_ref: parentRef(app.id),
        service: opts.service || `${app.name}-web`,
        domain: arg.domain,
        leader: opts.leader === true,
        drain_backends: opts.drainBackends,
      };
      if (arg.path) body.path = arg.path;
      if (opts.port) body.port = opts.port;
      if (opts.sticky) body.sticky = true;
      if (opts.disableKeepAlives) body.disable_keep_alives = true;
      if (tls) {
        body.tls_cert = tls.cert;
        body.tls_key = tls.key;
      }
      if (managed) body.managed_certificate = managed;
      const created = await api.json<RouteJson>('POST', '/routes', body);
      process.stdout.write(`${formattedId(created)}\n`);
    });

  add
    .command('tcp')
    .description('route a TCP port to the app')
    .option('-s, --service <service>', 'service name to route the port to (defaults to APPNAME-web)')
    .option('-p, --port <port>', 'port to accept traffic on (default: a free one)', parsePort)
    .option('--leader', 'enable leader-only routing mode')
    .option('--no-drain-backends', "don't wait for in-flight requests to complete before stopping backends")
    .action(async (opts: AddTcpOpts, cmd: Command) => {
      const ctx = await target(cmd);
      const app = needApp(ctx);
      const api = new RouterApi(ctx.target);
      const created = await api.json<RouteJson>('POST', '/routes', {
        type: 'tcp',
        parent_ref: parentRef(app.id),
        service: opts.service || `${app.name}-web`,
        port: opts.port ?? 0,
        leader: opts.leader === true,
        drain_backends: opts.drainBackends,
      });
      process.stdout.write(`${formattedId(created)} listening on port ${created.port}\n`);
    });

  route
    .command('update')
    .description('changes a route of the app')
    .argument('<id>', 'the route, as listed (http/<uuid> or tcp/<uuid>)')
    .option('-s, --service <service>', 'service name to route to')
    .option('-c, --tls-cert <tls-cert>', 'path to PEM encoded certificate for TLS, - for stdin (http only)')
    .option('-k, --tls-key <tls-key>', 'path to PEM encoded private key for TLS, - for stdin (http only)')
    .option('--sticky', 'enable cookie-based sticky routing (http only)')
    .option('--no-sticky', 'disable cookie-based sticky routing (http only)')
    .option('--leader', 'enable leader-only routing mode')
    .option('--no-leader', 'disable leader-only routing mode')
    .option('--disable-keep-alives', 'disable keep-alives between the router and backends (http only)')
    .option('--enable-keep-alives', 'enable keep-alives between the router and backends (http only)')
    .option('--managed-cert [name]', "obtain and renew the route's certificate through ACME (http only)")
    .option('--no-managed-cert', 'stop managing the certificate (the issued one stays on the route)')
    .option('--renew-cert', 'renew the managed certificate now')
    .action(
      async (
        id: string,
        opts: UpdateOpts & { disableKeepAlives?: boolean; enableKeepAlives?: boolean },
        cmd: Command,
      ) => {
        parseRouteId(id);
        checkManagedFlags(opts);
        const tls = readTlsPair(opts.tlsCert, opts.tlsKey);
        const ctx = await target(cmd);
        const app = needApp(ctx);
        const api = new RouterApi(ctx.target);
        const current = await appRoute(api, app.id, id);
        const managed = managedUpdate(current, opts);
        if (managed && !('renew' in managed) && tls) {
          throw new CliError('--managed-cert cannot be combined with -c/-k', 2);
        }
        const next = updateBody(current, opts, managed, tls);
        const updated = await api.json<RouteJson>(
          'PUT',
          `/routes/${current.type}/${encodeURIComponent(current.id)}`,
          next,
        );
        if (updated.type === 'tcp') {
          process.stdout.write(`${formattedId(updated)} listening on port ${updated.port}\n`);
        } else {
          process.stdout.write(`updated ${formattedId(updated)}\n`);
        }
      },
    );

  route
    .command('show')
    .description("shows a route, with its managed certificate's state")
    .argument('<id>', 'the route, as listed (http/<uuid> or tcp/<uuid>)')
    .option('--json', "the route API's JSON")
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      parseRouteId(id);
      const ctx = await target(cmd);
      const app = needApp(ctx);
      const current = await appRoute(new RouterApi(ctx.target), app.id, id);
      process.stdout.write(
        `${opts.json ? JSON.stringify(withoutPem(current), null, 2) : formatRouteDetail(current)}\n`,
      );
    });

  route
    .command('remove')
    .description('removes a route')
    .argument('<id>', 'the route, as listed (http/<uuid> or tcp/<uuid>)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      parseRouteId(id);
      const ctx = await target(cmd);
      const app = needApp(ctx);
      const api = new RouterApi(ctx.target);
      const current = await appRoute(api, app.id, id);
      const answer = await api.send('DELETE', `/routes/${current.type}/${encodeURIComponent(current.id)}`);
      if (answer.status === 404) throw new CliError(`route ${formattedId(current)} not found`);
      if (answer.status !== 200) throw routerError('DELETE', answer);
      process.stdout.write(`Route ${id} removed.\n`);
    });
}
