import { restoreApps } from '../../restore/apps.js';
import { restoreData } from '../../restore/data.js';
import { restoreStore } from '../../restore/seed.js';
import { restoreSummary, restoreVerify } from '../../restore/verify.js';
import type { State, Step } from '../state.js';
import { addRoute } from './add-route.js';
import { addApp, deployApp } from './apps.js';
import { genRandom, genTlsCert, logStep, requireEnv } from './basic.js';
import { resourceCheck } from './resource-check.js';
import { runApp } from './run-app.js';
import { statusCheck, waitHosts, waitUrl } from './wait.js';

// The actions a manifest may name (Flynn's names and fields; only those flynn-edge has).

export type Action = (step: Step, state: State) => Promise<void>;

export const ACTIONS: Record<string, Action> = {
  'require-env': requireEnv,
  'resource-check': resourceCheck,
  'gen-random': genRandom,
  'gen-tls-cert': genTlsCert,
  'run-app': runApp,
  'wait-hosts': waitHosts,
  'add-app': addApp,
  'deploy-app': deployApp,
  'add-route': addRoute,
  wait: waitUrl,
  'status-check': statusCheck,
  log: logStep,
  // --from-backup only (restore/steps.ts adds them)
  'restore-store': restoreStore,
  'restore-data': restoreData,
  'restore-apps': restoreApps,
  'restore-verify': restoreVerify,
  'restore-summary': restoreSummary,
};
