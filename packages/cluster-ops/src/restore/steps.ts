import type { Step } from '../bootstrap/state.js';

// A restore runs the same manifest with five more steps (flynn-ops.md §9.2): the store seeded
// once discoverd has a leader (before the first step that records an app), the backup's artifacts
// and volumes put on the hosts, every restored key compared with the backup (before any router or
// app runs: afterwards deploys and the ACME issuer change records on purpose), the user apps
// started once the system apps run, and the summary before the final message. status-check waits
// up to 600 s (Flynn's restore).

const RESTORE_STATUS_TIMEOUT_S = 600;

/** Names of the apps the manifest runs itself (their records come from the manifest + backup). */
export function manifestAppNames(steps: Step[]): string[] {
  return steps
    .filter((s) => s.action === 'run-app' || s.action === 'deploy-app')
    .map((s) => (s.app as { name?: string } | undefined)?.name ?? s.id);
}

export function restoreSteps(steps: Step[]): Step[] {
  const systemApps = manifestAppNames(steps);
  const seed: Step[] = [
    { id: 'restore-store', action: 'restore-store', system_apps: systemApps },
    { id: 'restore-data', action: 'restore-data' },
    { id: 'restore-verify', action: 'restore-verify' },
  ];
  const apps: Step = { id: 'restore-apps', action: 'restore-apps', system_apps: systemApps };
  const summary: Step = { id: 'restore-summary', action: 'restore-summary' };
  const firstRecord = steps.findIndex((s) => s.action === 'add-app' || s.action === 'deploy-app');
  const lastSystem = steps.reduce(
    (at, s, i) => (['add-app', 'deploy-app', 'add-route'].includes(s.action) ? i : at),
    -1,
  );
  const logAt = steps.findIndex((s) => s.action === 'log');
  const out: Step[] = [];
  steps.forEach((s, i) => {
    if (i === firstRecord) out.push(...seed);
    if (i === logAt) out.push(summary);
    out.push(s.action === 'status-check' ? { ...s, timeout: RESTORE_STATUS_TIMEOUT_S } : s);
    if (i === lastSystem) out.push(apps);
  });
  if (firstRecord < 0) out.push(...seed);
  if (lastSystem < 0) out.push(apps);
  if (logAt < 0) out.push(summary);
  return out;
}
