// The -notify webhook (spec §1.1): tells the host daemon where discoverd and its DNS are, once DNS
// serves and again once a leader is known. Failures are logged and retried a few times; they
// never stop discoverd.

export interface NotifyBody {
  job_id: string;
  url: string;
  dns: string;
}

export async function sendNotify(
  url: string,
  body: NotifyBody,
  log: (msg: string, err?: unknown) => void,
  attempts = 5,
): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    try {
      const r = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(5000),
      });
      if (r.ok) return true;
      log(`notify ${url} answered ${r.status}`);
    } catch (err) {
      log(`notify ${url} failed`, err);
    }
    await new Promise((r) => setTimeout(r, 500 * (i + 1)));
  }
  return false;
}
