import { createHash } from 'node:crypto';

// The part of Go's text/template that Flynn's manifests use: `{{ getenv "X" }}`,
// `{{ (index .StepData "id").Field }}`, `{{ .Singleton }}`, `{{ md5sum "s" }}` and
// `{{ range $ip := .SortedHostIPs }}…{{ $ip }}…{{ end }}`. Anything else is an error, which fails
// the step (Flynn logged it and kept the raw string: a half-configured cluster is worse).

export interface TemplateContext {
  env: Record<string, string | undefined>;
  stepData: Record<string, unknown>;
  singleton: boolean;
  sortedHostIps: string[];
}

const RANGE_RE = /\{\{-?\s*range\s+\$(\w+)\s*:=\s*\.SortedHostIPs\s*-?\}\}([\s\S]*?)\{\{-?\s*end\s*-?\}\}/g;
const ACTION_RE = /\{\{-?\s*([\s\S]*?)\s*-?\}\}/g;

// Go field names of the step data types, as this package names them.
const FIELDS: Record<string, string> = {
  Data: 'data',
  Cert: 'cert',
  PrivateKey: 'privateKey',
  Pin: 'pin',
  CACert: 'caCert',
  ID: 'id',
};

export function renderTemplate(text: string, ctx: TemplateContext): string {
  if (!text.includes('{{')) return text;
  const ranged = text.replace(RANGE_RE, (_m, name: string, body: string) =>
    ctx.sortedHostIps
      .map((ip) => body.replace(new RegExp(`\\{\\{\\s*\\$${name}\\s*\\}\\}`, 'g'), ip))
      .join(''),
  );
  return ranged.replace(ACTION_RE, (_m, expr: string) => evaluate(expr, ctx));
}

function evaluate(expr: string, ctx: TemplateContext): string {
  let m = /^getenv\s+"([^"]*)"$/.exec(expr);
  if (m) return ctx.env[m[1]] ?? '';
  m = /^md5sum\s+"([^"]*)"$/.exec(expr);
  if (m) return createHash('md5').update(m[1]).digest('hex');
  if (expr === '.Singleton') return String(ctx.singleton);
  m = /^\(index\s+\.StepData\s+"([^"]+)"\)\.(\w+)$/.exec(expr);
  if (m) {
    const data = ctx.stepData[m[1]];
    if (data === undefined) throw new Error(`no step data for ${JSON.stringify(m[1])}`);
    const field = FIELDS[m[2]] ?? m[2];
    const v = (data as Record<string, unknown>)[field];
    if (v === undefined) throw new Error(`step ${JSON.stringify(m[1])} has no field ${m[2]}`);
    return String(v);
  }
  throw new Error(`unsupported template action {{ ${expr} }}`);
}

/** Every string inside `value` rendered (a step's fields, before its action runs). */
export function renderDeep<T>(value: T, ctx: TemplateContext): T {
  if (typeof value === 'string') return renderTemplate(value, ctx) as T;
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, ctx)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, ctx)])) as T;
  }
  return value;
}
