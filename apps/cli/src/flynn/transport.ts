import type { IncomingMessage } from 'node:http';
import type { HttpTransport, TransferRequest } from '@flynn-edge/backup';
import { PeerTrust } from '@flynn-edge/discoverd-client/servers';
import { send } from '../discoverd-http.js';
import type { ClusterTarget } from './target.js';

// The backup transfers' HTTP (packages/backup's HttpTransport) over the CLI's `send`: TLS pins and
// the controller gateway work as for every other command, bodies stream both ways, and the
// cluster key goes only where discoverd-http's `request` would send it: the configured discoverd
// servers, the peers they vouch for (a 307 to the leader), and the hosts the caller names.

/** Default deadline of one exchange, body included. */
const TIMEOUT_MS = 10 * 60_000;

export class CliTransport implements HttpTransport {
  private readonly trust: PeerTrust;

  constructor(private readonly target: ClusterTarget) {
    this.trust = new PeerTrust(target.discoverd);
  }

  /** A host API base URL from discoverd's registrations: it may receive the key. */
  trustUrl(url: string): void {
    this.trust.add(url);
  }

  async request(method: string, url: string, opts: TransferRequest = {}): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.target.clusterKey && this.trust.trusts(url)) {
      headers.authorization = `Bearer ${this.target.clusterKey}`;
    }
    const deadline = Date.now() + (opts.timeoutMs ?? TIMEOUT_MS);
    const { res, done } = await send(method, url, headers, opts.body, deadline);
    res.once('close', done);
    const peers = res.headers['discoverd-peers'];
    this.trust.observe(url, Array.isArray(peers) ? peers.join(',') : peers);
    return res;
  }
}
