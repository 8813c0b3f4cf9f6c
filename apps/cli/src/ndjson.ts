import type { IncomingMessage } from 'node:http';
import { describeNetworkError, NetworkError, send } from './discoverd-http.js';
import { CliError } from './output.js';

// Streams an NDJSON answer (the host's job log, the aggregator's app log) line by line.

/**
 * GET `url` (no deadline: a followed log streams for as long as the job runs); resolves with the
 * response once it is known to be a 2xx, as UTF-8 text chunks (Buffers with `raw`). A server's
 * error answer becomes a CliError with its message.
 */
export async function openStream(url: string, clusterKey?: string, raw = false): Promise<IncomingMessage> {
  const headers: Record<string, string> = {};
  if (clusterKey) headers.authorization = `Bearer ${clusterKey}`;
  let res: IncomingMessage;
  try {
    const sent = await send('GET', url, headers, undefined, Number.POSITIVE_INFINITY);
    sent.done();
    res = sent.res;
  } catch (err) {
    if (err instanceof CliError) throw err; // a TLS pin mismatch says so itself
    throw new NetworkError('GET', url, describeNetworkError(err, 0));
  }
  const status = res.statusCode ?? 0;
  if (!raw || status < 200 || status >= 300) res.setEncoding('utf8');
  if (status < 200 || status >= 300) {
    let text = '';
    for await (const d of res) text += d;
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {}
    throw new CliError(`GET ${url} answered ${status}: ${message || '(empty body)'}`);
  }
  return res;
}

/** Calls `onChunk` for each chunk of an open response; a broken connection is a NetworkError. */
export async function eachChunk<C = string>(
  url: string,
  res: IncomingMessage,
  onChunk: (chunk: C) => void,
): Promise<void> {
  const it: AsyncIterator<C> = res[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<C>;
    try {
      r = await it.next();
    } catch (err) {
      throw new NetworkError('GET', url, describeNetworkError(err, 0));
    }
    if (r.done) return;
    onChunk(r.value);
  }
}

interface LineHandlers<T> {
  onLine: (value: T) => void;
  onBatchEnd?: () => void;
}

/** The NDJSON lines of an open response. */
export async function ndjsonLines<T>(url: string, res: IncomingMessage, h: LineHandlers<T>): Promise<void> {
  let buf = '';
  await eachChunk(url, res, (chunk) => {
    buf += chunk;
    let start = 0;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', start)) {
      const text = buf.slice(start, nl);
      start = nl + 1;
      if (text.trim() !== '') h.onLine(JSON.parse(text) as T);
    }
    buf = buf.slice(start);
    h.onBatchEnd?.();
  });
}

export async function streamNdjson<T>(
  url: string,
  opts: { clusterKey?: string } & LineHandlers<T>,
): Promise<void> {
  await ndjsonLines(url, await openStream(url, opts.clusterKey), opts);
}
