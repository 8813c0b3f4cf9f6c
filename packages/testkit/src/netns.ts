import { execFileSync, spawnSync } from 'node:child_process';
import type { ToolCheck } from './require-command.js';

// A network namespace joined to this one by a veth pair, for tests that need a client on an
// address that is not loopback or private (e.g. 198.18.0.0/15, the benchmarking range): real
// packets from a real foreign source address, without leaving the machine. Needs root and `ip`.

export interface NetNamespaceOptions {
  /** Short name; the namespace and the veth ends are named after it (≤ 10 characters). */
  name: string;
  /** Address on this side, e.g. 198.18.7.1 (a /30 is used). */
  hostIp: string;
  /** Address inside the namespace, e.g. 198.18.7.2. */
  nsIp: string;
}

/**
 * Whether namespaces can be made here (root and iproute2's `ip`). As requireCommand: missing, it
 * skips with a message on a developer's machine and throws under CI=true.
 */
export function netnsAvailable(env: Readonly<Record<string, string | undefined>> = process.env): ToolCheck {
  let message = '';
  if (process.getuid?.() !== 0) message = 'network namespaces need root';
  else if (spawnSync('ip', ['netns', 'list']).status !== 0)
    message = '`ip netns` does not work here (apt-get install iproute2)';
  if (message && env.CI === 'true') throw new Error(`CI=true and ${message}`);
  if (message) process.stderr.write(`skipping tests: ${message}\n`);
  return { available: message === '', message };
}

export class NetNamespace {
  readonly ns: string;
  private readonly hostEnd: string;

  constructor(readonly opts: NetNamespaceOptions) {
    if (!/^[a-z0-9]{1,10}$/.test(opts.name)) throw new Error(`bad namespace name ${opts.name}`);
    this.ns = `fe-${opts.name}`;
    this.hostEnd = `vh-${opts.name}`;
  }

  /** Creates the namespace and the link; a leftover of the same name is replaced. */
  create(): void {
    this.destroy();
    const nsEnd = `vn-${this.opts.name}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', this.ns);
    ip('link', 'add', this.hostEnd, 'type', 'veth', 'peer', 'name', nsEnd);
    ip('link', 'set', nsEnd, 'netns', this.ns);
    ip('addr', 'add', `${this.opts.hostIp}/30`, 'dev', this.hostEnd);
    ip('link', 'set', this.hostEnd, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.opts.nsIp}/30`, 'dev', nsEnd);
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', nsEnd, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up');
  }

  /**
   * Makes `hostIp:port` (this side of the link) reach `toIp:toPort` here, e.g. a router bound to
   * 127.0.0.91: a DNAT rule for packets from the namespace, with route_localnet so loopback
   * destinations are allowed. The peer seen there is still the namespace's public address.
   */
  forward(port: number, toIp: string, toPort = port): void {
    execFileSync('sysctl', ['-qw', `net.ipv4.conf.${this.hostEnd}.route_localnet=1`], { stdio: 'pipe' });
    const rule = this.forwardRule(port, toIp, toPort);
    execFileSync('iptables', ['-t', 'nat', '-A', 'PREROUTING', ...rule], { stdio: 'pipe' });
    this.forwards.push(rule);
  }

  private readonly forwards: string[][] = [];

  private forwardRule(port: number, toIp: string, toPort: number): string[] {
    const to = `${toIp}:${toPort}`;
    return [
      '-i',
      this.hostEnd,
      '-d',
      this.opts.hostIp,
      '-p',
      'tcp',
      '--dport',
      String(port),
      '-j',
      'DNAT',
      '--to-destination',
      to,
    ];
  }

  /** Runs a command inside the namespace; resolves with its exit code and output. */
  exec(command: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.ns, command, ...args], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Removes the namespace (its veth end goes with it, and so does ours). Idempotent. */
  destroy(): void {
    for (const rule of this.forwards.splice(0)) {
      spawnSync('iptables', ['-t', 'nat', '-D', 'PREROUTING', ...rule], { stdio: 'ignore' });
    }
    spawnSync('ip', ['netns', 'del', this.ns], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', this.hostEnd], { stdio: 'ignore' });
  }
}
