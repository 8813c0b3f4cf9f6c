import type { Operation } from '../src/index.js';

// Terse builders for hand-written histories. `ret` undefined = no reply.

export function write(clientId: number, value: string, call: number, ret?: number, key = 'x'): Operation {
  return {
    clientId,
    key,
    kind: 'write',
    input: { value },
    output: ret === undefined ? undefined : {},
    call,
    ret,
  };
}

export function read(
  clientId: number,
  value: string | null,
  call: number,
  ret?: number,
  key = 'x',
): Operation {
  return {
    clientId,
    key,
    kind: 'read',
    input: {},
    output: ret === undefined ? undefined : { value },
    call,
    ret,
  };
}

export function cas(
  clientId: number,
  expected: string | null,
  value: string,
  ok: boolean | undefined,
  call: number,
  ret?: number,
  key = 'x',
): Operation {
  return {
    clientId,
    key,
    kind: 'cas',
    input: { expected, value },
    output: ret === undefined || ok === undefined ? undefined : { ok },
    call,
    ret,
  };
}
