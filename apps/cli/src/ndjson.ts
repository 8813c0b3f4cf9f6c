import { describeNetworkError, NetworkError } from './discoverd-http.js';
import { CliError } from './output.js';

// Streams an NDJSON answer (the host's job log, the aggregator's app log) line by line.

export async function streamNdjson<T>(
  url: string,
  opts: { clusterKey?: string; onLine: (value: T) => void; onBatchEnd?: () => void },
): Promise<void> {
  const headers: Record<string, string> = {};
  if (opts.clusterKey) headers.authorization = `Bearer ${opts.clusterKey}`;
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (err) {
    throw new NetworkError('GET', url, describeNetworkError(err, 0));
  }
  if (!res.ok || !res.body) {
    const text = await res.text();
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {}
    throw new CliError(`GET ${url} answered ${res.status}: ${message || '(empty body)'}`);
  }
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (text.trim() !== '') opts.onLine(JSON.parse(text) as T);
    }
    opts.onBatchEnd?.();
  }
}
