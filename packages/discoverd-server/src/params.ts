import type { HhError } from '@flynn-edge/discoverd-state';
import { HttpError } from '@flynn-edge/service-kit';
import type { FastifyRequest } from 'fastify';

// Query parameters and validation errors shared by the /kv/ routes, their bodies and `?index=N`.

export type Query = Record<string, unknown>;

export function invalid(message: string): HttpError {
  return new HttpError('validation_error', message);
}

export function check(err: HhError | undefined): void {
  if (err) throw new HttpError(err.code, err.message);
}

export function query(req: FastifyRequest): Query {
  return (req.query ?? {}) as Query;
}

export function param(q: Query, name: string, scope = 'kv'): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${scope}: query parameter ${name} is given more than once`);
  return v;
}

export function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function parseIndex(v: string): number | undefined {
  if (!/^\d{1,16}$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function intParam(q: Query, name: string, scope = 'kv'): number | undefined {
  const v = param(q, name, scope);
  if (v === undefined) return undefined;
  const n = parseIndex(v);
  if (n === undefined) throw invalid(`${scope}: ${name} must be a non-negative integer`);
  return n;
}

export function boolParam(q: Query, name: string): boolean {
  const v = param(q, name);
  if (v === undefined) return false;
  switch (v.toLowerCase()) {
    case '':
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
  }
  throw invalid(`kv: ${name} must be true or false`);
}
