import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { HEAD_TIMEOUT_MS, type HttpTransport, IdleWatchdog, type TransferRequest } from '@flynn-edge/backup';
import { PeerTrust } from '@flynn-edge/discoverd-client/servers';
import { send } from '../discoverd-http.js';
import type { ClusterTarget } from './target.js';

// The backup transfers' HTTP (packages/backup's HttpTransport) over the CLI's `send`: TLS pins and
// the controller gateway work as for every other command, bodies stream both ways, and the
// cluster key goes only where discoverd-http's `request` would send it: the configured discoverd
// servers, the peers they vouch for (a 307 to the leader), and the hosts the caller names.
//
// A volume or an artifact may take hours: a stream body has no deadline, an answer none once its
// head is there; an idle watchdog fails either when no byte moved for a minute. `abort()` (a
// Ctrl-C) ends every exchange still streaming.

export class CliTransport implements HttpTransport {
  private readonly trust: PeerTrust;
  private readonly running = new Set<{ destroy(err: Error): void }>();

  constructor(private readonly target: ClusterTarget) {
    this.trust = new PeerTrust(target.discoverd);
  }

  /** A host API base URL from discoverd's registrations: it may receive the key. */
  trustUrl(url: string): void {
    this.trust.add(url);
  }

  /** Fails every exchange still streaming with `err` (later ones, an undo's, go ahead). */
  abort(err: Error): void {
    for (const s of this.running) s.destroy(err);
  }

  async request(method: string, url: string, opts: TransferRequest = {}): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.target.clusterKey && this.trust.trusts(url)) {
      headers.authorization = `Bearer ${this.target.clusterKey}`;
    }
    const watchdog = new IdleWatchdog(`${method} ${url}`, opts.idleMs);
    const streaming = opts.body instanceof Readable;
    const body = opts.body instanceof Readable ? watchdog.body(opts.body) : opts.body;
    if (body instanceof Readable) this.track(body);
    const deadline = streaming ? Number.POSITIVE_INFINITY : Date.now() + (opts.timeoutMs ?? HEAD_TIMEOUT_MS);
    let res: IncomingMessage;
    try {
      const answer = await send(method, url, headers, body, deadline);
      answer.done();
      res = answer.res;
    } catch (err) {
      watchdog.stop();
      throw err;
    }
    watchdog.response(res);
    this.track(res);
    const peers = res.headers['discoverd-peers'];
    this.trust.observe(url, Array.isArray(peers) ? peers.join(',') : peers);
    return res;
  }

  private track(s: Readable): void {
    this.running.add(s);
    s.once('close', () => this.running.delete(s));
  }
}
