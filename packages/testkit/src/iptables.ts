import { spawnSync } from 'node:child_process';
import { requireCommand, type ToolCheck } from './require-command.js';

// Network partitions between 127.0.0.x "hosts" with iptables: each cut drops the packets from one
// address to another (both ways for isolate), so TCP connections stall as on a real network.
// Every rule carries a tag, and heal() removes exactly the rules this cutter added.

export function iptablesAvailable(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ToolCheck {
  const tool = requireCommand('iptables', 'iptables', env);
  if (!tool.available) return tool;
  if (process.getuid?.() !== 0) {
    const message = 'partition tests need root for iptables (CI runs them as root)';
    if (env.CI === 'true') throw new Error(`CI=true and ${message}`);
    process.stderr.write(`skipping tests: ${message}\n`);
    return { available: false, message };
  }
  return tool;
}

function iptables(args: string[]): void {
  const r = spawnSync('iptables', ['-w', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`iptables ${args.join(' ')}: ${r.stderr.trim()}`);
}

export class LinkCutter {
  private readonly rules: string[][] = [];

  constructor(readonly tag = `flynn-edge-test-${process.pid}`) {}

  /** Drops every packet from `from` to `to` (one way). */
  cut(from: string, to: string): void {
    const rule = ['INPUT', '-s', from, '-d', to, '-j', 'DROP', '-m', 'comment', '--comment', this.tag];
    iptables(['-I', ...rule]);
    this.rules.push(rule);
  }

  /** Cuts `ip` off from each of `others`, both ways. */
  isolate(ip: string, others: readonly string[]): void {
    for (const o of others) {
      if (o === ip) continue;
      this.cut(ip, o);
      this.cut(o, ip);
    }
  }

  heal(): void {
    for (const rule of this.rules.splice(0)) iptables(['-D', ...rule]);
  }
}
