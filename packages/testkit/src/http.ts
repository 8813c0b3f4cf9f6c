// Plain HTTP for tests against real processes: no redirect following unless asked, a deadline,
// and the body read as text.

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: () => unknown;
}

export async function http(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<Res> {
  const init: RequestInit = {
    method,
    headers: { ...headers },
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const r = await fetch(url, init);
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: () => JSON.parse(text) };
}

/** Follows 307s by hand, re-sending the body, as Flynn's clients do. */
export async function write(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  timeoutMs = 10_000,
): Promise<Res> {
  let target = url;
  for (let i = 0; i < 10; i++) {
    const r = await http(method, target, body, headers, timeoutMs);
    if (r.status !== 307) return r;
    target = r.headers.get('location')!;
  }
  throw new Error('too many redirects');
}
