import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Instance } from '@flynn-edge/discoverd-state';
import { formatTimestamp, frameMessage, type LogMessage, nowMicros } from '@flynn-edge/syslog';
import type { CheckOutcome } from '../envelope.js';
import { type Discovery, httpGet, probeEvery } from '../probe.js';
import { type Check, errorReason } from '../runner.js';

// logaggregator: a canary through the real path. For every `logaggregator` instance (its addr is
// the syslog port, its meta `api_addr` the HTTP API), send one RFC 5424 message with a fresh
// nonce for the canary app, octet-counted exactly as a host's shipper frames it, then read
// GET <api_addr>/log/<canary app>?lines=N until the nonce shows up, within the round's deadline.
//
// The canary's HOSTNAME is not a host id (`flynn-status` by default): the aggregator keeps a
// resume cursor per hostname, and a real host's cursor must never move because of a canary.

export const LOGAGGREGATOR_SERVICE = 'logaggregator';
export const DEFAULT_CANARY_APP = 'status-canary';
export const DEFAULT_CANARY_HOSTNAME = 'flynn-status';
/** How many of the newest canary lines are read: enough for several status processes at once. */
export const CANARY_LINES = 100;

export interface LogaggregatorCheckOptions {
  discovery: Discovery;
  service?: string;
  canaryApp?: string;
  canaryHostname?: string;
  headers?: Record<string, string>;
}

let seq = 0;

/** The canary message (exported for tests). */
export function canaryMessage(app: string, hostname: string, nonce: string): LogMessage {
  seq = (seq + 1) % 0xffff_ffff;
  return {
    timestamp: formatTimestamp(nowMicros()),
    hostname,
    appName: app,
    procId: 'status.canary',
    msgId: 'ID1',
    seq,
    msg: Buffer.from(`status canary ${nonce}`),
  };
}

/** Writes one frame to `addr` and waits until the socket has flushed and closed cleanly. */
export function sendFrame(addr: string, frame: Buffer, signal: AbortSignal): Promise<void> {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(addr.slice(i + 1));
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const sock = connect({ host, port });
    const onAbort = () => sock.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    sock.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    sock.once('close', (hadError) => {
      signal.removeEventListener('abort', onAbort);
      if (!hadError) resolve();
    });
    sock.on('data', () => {}); // the aggregator sends nothing; drain anyway
    sock.end(frame);
  });
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

async function canary(
  inst: Instance,
  opts: LogaggregatorCheckOptions,
  signal: AbortSignal,
): Promise<CheckOutcome> {
  const api = inst.meta?.api_addr;
  if (!api) return { healthy: false, reason: 'no api_addr in its discoverd meta' };
  const app = opts.canaryApp ?? DEFAULT_CANARY_APP;
  const nonce = randomBytes(12).toString('hex');
  const msg = canaryMessage(app, opts.canaryHostname ?? DEFAULT_CANARY_HOSTNAME, nonce);
  try {
    await sendFrame(inst.addr, frameMessage(msg, false), signal);
  } catch (err) {
    return { healthy: false, reason: `syslog: ${errorReason(err)}` };
  }
  const url = `http://${api}/log/${encodeURIComponent(app)}?lines=${CANARY_LINES}`;
  let wait = 5;
  for (;;) {
    try {
      const res = await httpGet(url, { signal, headers: opts.headers });
      if (res.status !== 200) return { healthy: false, reason: `${url} answered ${res.status}` };
      if (res.text.includes(nonce)) return { healthy: true };
    } catch (err) {
      if (signal.aborted) throw err;
      return { healthy: false, reason: `log API ${api}: ${errorReason(err)}` };
    }
    await pause(wait, signal);
    wait = Math.min(wait * 2, 100);
  }
}

export function logaggregatorCheck(opts: LogaggregatorCheckOptions): Check {
  const service = opts.service ?? LOGAGGREGATOR_SERVICE;
  return {
    name: 'logaggregator',
    async run(signal): Promise<CheckOutcome> {
      const instances = await opts.discovery.instances(service, signal);
      if (instances.length === 0) return { healthy: false, reason: `no ${service} instance is registered` };
      return probeEvery(instances, (i) => canary(i, opts, signal), { instances: instances.length });
    },
  };
}
