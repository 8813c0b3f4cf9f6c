import { ACTIONS } from './actions/index.js';
import type { Step } from './state.js';

// A manifest is a JSON array of steps `{"id","action",…}` (Flynn's bootstrap manifest). Parsing
// checks what can be checked before any host is touched: the JSON, each step's id and action.

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** The steps of `text`, only those in `only` when given (--steps). */
export function parseManifest(text: string, only?: string[]): Step[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ManifestError(`Error parsing JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw))
    throw new ManifestError('Error parsing JSON: the manifest must be an array of steps');
  const steps: Step[] = [];
  for (const s of raw) {
    if (!s || typeof s !== 'object' || typeof s.id !== 'string' || typeof s.action !== 'string') {
      throw new ManifestError('Error parsing JSON: every step needs a string "id" and "action"');
    }
    if (only && only.length > 0 && !only.includes(s.id)) continue;
    if (!Object.hasOwn(ACTIONS, s.action)) throw new ManifestError(`bootstrap: unknown action "${s.action}"`);
    steps.push(s as Step);
  }
  return steps;
}
