import { spawn, spawnSync } from 'node:child_process';
import { ManagedProcess, type ProcessSpec } from '@flynn-edge/process-kit';

// Several "machines" on one test box: a bridge fe-br<tag> in this namespace and one network
// namespace per host, each with its own eth0 at 10.77.<tag>.<10+k>, so every host binds the real
// ports (1113, 1111, 80, 443, 53) on its own address as on a real cluster. A public client
// namespace at 198.18.<tag>.2 (the benchmarking range, never a private one) plays a user outside
// the cluster. Everything stays on the bridge (layer 2): the hosts and the client reach each other
// through on-link routes, nothing is routed or forwarded by this namespace, and no namespace has a
// default route, so no packet of theirs can leave the machine. Needs root, `ip` and `iptables`;
// check with netnsAvailable() first.

export interface HostNetworkOptions {
  /** 1–250: the third octet of every address, and part of every name (a leftover is replaced). */
  tag: number;
  /** How many host namespaces (1–20). */
  hosts: number;
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const BRIDGE_HOST_SIDE = 1;
const CLIENT_HOST = 2;

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout || '').trim()}`);
}

function quiet(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

export class HostNetwork {
  readonly tag: number;
  readonly bridge: string;
  /** The bridge's address on the hosts' subnet: this namespace (the test) reaches them from it. */
  readonly gatewayIp: string;
  /** The public client namespace's address, e.g. 198.18.7.2. */
  readonly publicIp: string;
  readonly publicNs: string;
  private readonly hostCount: number;
  private readonly procs = new Set<ManagedProcess>();
  private readonly forwardRule: string[];

  constructor(opts: HostNetworkOptions) {
    if (!Number.isInteger(opts.tag) || opts.tag < 1 || opts.tag > 250) throw new Error(`bad tag ${opts.tag}`);
    if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 20) {
      throw new Error(`bad host count ${opts.hosts}`);
    }
    this.tag = opts.tag;
    this.hostCount = opts.hosts;
    this.bridge = `fe-br${opts.tag}`;
    this.gatewayIp = `10.77.${opts.tag}.${BRIDGE_HOST_SIDE}`;
    this.publicIp = `198.18.${opts.tag}.${CLIENT_HOST}`;
    this.publicNs = `fe-${opts.tag}pub`;
    this.forwardRule = [
      '-i',
      this.bridge,
      '-o',
      this.bridge,
      '-j',
      'ACCEPT',
      '-m',
      'comment',
      '--comment',
      this.bridge,
    ];
  }

  /** Host indexes, 1-based: host k is namespace fe-<tag>h<k> at 10.77.<tag>.<10+k>. */
  get hosts(): number[] {
    return Array.from({ length: this.hostCount }, (_, i) => i + 1);
  }

  ip(k: number): string {
    this.check(k);
    return `10.77.${this.tag}.${10 + k}`;
  }

  ns(k: number): string {
    this.check(k);
    return `fe-${this.tag}h${k}`;
  }

  /** Every host's address, in host order. */
  get ips(): string[] {
    return this.hosts.map((k) => this.ip(k));
  }

  /** Creates the bridge and the namespaces; a leftover network of the same tag is removed first. */
  create(): this {
    this.destroyNamed();
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.gatewayIp}/24`, 'dev', this.bridge]);
    sh('ip', ['addr', 'add', `198.18.${this.tag}.${BRIDGE_HOST_SIDE}/24`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
    // With br_netfilter loaded, bridged frames go through FORWARD: let ours pass whatever its policy.
    if (
      spawnSync('sysctl', ['-n', 'net.bridge.bridge-nf-call-iptables'], {
        encoding: 'utf8',
      }).stdout?.trim() === '1'
    ) {
      sh('iptables', ['-w', '-I', 'FORWARD', ...this.forwardRule]);
    }
    for (const k of this.hosts) {
      this.attach(this.ns(k), `fe${this.tag}h${k}`, this.ip(k), `198.18.${this.tag}.0/24`);
    }
    this.attach(this.publicNs, `fe${this.tag}pub`, this.publicIp, `10.77.${this.tag}.0/24`);
    return this;
  }

  /** A namespace with eth0 on the bridge at `ip`/24, lo up, and an on-link route to `other`. */
  private attach(ns: string, link: string, ip: string, other: string): void {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}n`]);
    sh('ip', ['link', 'set', `${link}n`, 'netns', ns]);
    sh('ip', ['link', 'set', link, 'master', this.bridge, 'up']);
    const inNs = (...args: string[]) => sh('ip', ['-n', ns, ...args]);
    inNs('link', 'set', `${link}n`, 'name', 'eth0');
    inNs('addr', 'add', `${ip}/24`, 'dev', 'eth0');
    inNs('link', 'set', 'eth0', 'up');
    inNs('link', 'set', 'lo', 'up');
    inNs('route', 'add', other, 'dev', 'eth0');
  }

  /**
   * Starts a process inside host k's namespace (or the public client's, k = 'public'). nsenter
   * execs the command in place, so the pid is the command's own: SIGKILL reaches it.
   */
  spawn(k: number | 'public', spec: ProcessSpec): ManagedProcess {
    const ns = k === 'public' ? this.publicNs : this.ns(k);
    const p = new ManagedProcess({
      ...spec,
      command: 'nsenter',
      args: enterNet(ns, spec.command, spec.args),
    });
    this.procs.add(p);
    p.start();
    return p;
  }

  /** Runs a command to completion inside a namespace, without blocking the event loop. */
  run(
    k: number | 'public',
    command: string,
    args: string[],
    opts: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const ns = k === 'public' ? this.publicNs : this.ns(k);
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', enterNet(ns, command, args), {
        env: { ...process.env, ...opts.env },
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: opts.timeoutMs ?? 60_000,
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
      child.stdin.end(opts.input ?? '');
    });
  }

  /** As run(), synchronously (short commands only: it blocks this process). */
  exec(k: number | 'public', command: string, args: string[]): ExecResult {
    const ns = k === 'public' ? this.publicNs : this.ns(k);
    const r = spawnSync('nsenter', enterNet(ns, command, args), { encoding: 'utf8', timeout: 20_000 });
    return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Pulls host k's cable: its link to the bridge goes down (connections stall, nothing is reset). */
  cut(k: number): void {
    sh('ip', ['link', 'set', `fe${this.tag}h${k}`, 'down']);
  }

  /**
   * Drops host k's packets inside its namespace (iptables there): to and from `peers` when given,
   * else everything but loopback.
   */
  block(k: number, peers?: readonly string[]): void {
    const ipt = (...args: string[]) => sh('ip', ['netns', 'exec', this.ns(k), 'iptables', '-w', ...args]);
    if (!peers) {
      ipt('-I', 'INPUT', '!', '-i', 'lo', '-j', 'DROP');
      ipt('-I', 'OUTPUT', '!', '-o', 'lo', '-j', 'DROP');
      return;
    }
    for (const p of peers) {
      ipt('-I', 'INPUT', '-s', p, '-j', 'DROP');
      ipt('-I', 'OUTPUT', '-d', p, '-j', 'DROP');
    }
  }

  /** Undoes cut() and block() for host k (every host when k is omitted). */
  heal(k?: number): void {
    for (const h of k === undefined ? this.hosts : [k]) {
      sh('ip', ['link', 'set', `fe${this.tag}h${h}`, 'up']);
      for (const chain of ['INPUT', 'OUTPUT']) {
        sh('ip', ['netns', 'exec', this.ns(h), 'iptables', '-w', '-F', chain]);
      }
    }
  }

  /** Pids of every process inside host k's namespace (ours or their children). */
  pids(k: number | 'public'): number[] {
    return this.pidsOf(k === 'public' ? this.publicNs : this.ns(k));
  }

  /** Kills what spawn() started and everything left in the namespaces, then removes them. Idempotent. */
  async destroy(): Promise<void> {
    for (const p of this.procs) await p.close();
    this.procs.clear();
    this.destroyNamed();
  }

  /**
   * Removes whatever carries this tag's names: processes still inside its namespaces (a test run
   * that died left them; nothing else can be in a namespace only this harness makes), the
   * namespaces, the links, the bridge and the FORWARD rule.
   */
  private destroyNamed(): void {
    const spaces = [...this.hosts.map((k) => this.ns(k)), this.publicNs];
    for (const ns of spaces) {
      for (const pid of this.pidsOf(ns)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      quiet('ip', ['netns', 'del', ns]);
    }
    for (const k of this.hosts) quiet('ip', ['link', 'del', `fe${this.tag}h${k}`]);
    quiet('ip', ['link', 'del', `fe${this.tag}pub`]);
    quiet('ip', ['link', 'del', this.bridge]);
    while (quiet('iptables', ['-w', '-D', 'FORWARD', ...this.forwardRule])) {
      // one rule per create(); a crashed run may have left more
    }
  }

  private pidsOf(ns: string): number[] {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    return r.status === 0 ? (r.stdout ?? '').split('\n').filter(Boolean).map(Number) : [];
  }

  private check(k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > this.hostCount)
      throw new Error(`no host ${k} (1..${this.hostCount})`);
  }
}

/**
 * nsenter's arguments to run a command in a network namespace only. `ip netns exec` also gives
 * the command a mount namespace of its own, which does not see mounts made after it started:
 * zfs-fuse's volume mounts would stay invisible to the jobs that write into them.
 */
function enterNet(ns: string, command: string, args: string[]): string[] {
  return [`--net=/run/netns/${ns}`, '--', command, ...args];
}
