import { createHash, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { generateSelfSigned } from '@flynn-edge/tls';
import type { State, Step } from '../state.js';

// The steps that need no host: require-env, gen-random, gen-tls-cert and log.

export async function requireEnv(step: Step, state: State): Promise<void> {
  const vars = (step.vars as string[] | undefined) ?? [];
  const missing = vars.filter((v) => !state.config.env[v]);
  if (missing.length > 0) throw new Error(`Missing required environment variable(s): ${missing.join(', ')}`);
}

/** Flynn's RandomData: prints as the value itself. */
export class RandomData {
  constructor(readonly data: string) {}
  toString(): string {
    return this.data;
  }
}

export async function genRandom(step: Step, state: State): Promise<void> {
  const given = typeof step.data === 'string' ? step.data : '';
  const length = typeof step.length === 'number' && step.length > 0 ? step.length : 16;
  let data = given;
  if (!data) {
    switch (step.encoding ?? 'hex') {
      case 'hex':
        data = randomBytes(length).toString('hex');
        break;
      case 'base64':
        data = randomBytes(length).toString('base64');
        break;
      case 'uuid':
        data = randomUUID();
        break;
      default:
        throw new Error(`bootstrap: unknown encoding ${JSON.stringify(step.encoding)}`);
    }
  }
  state.stepData[step.id] = new RandomData(data);
}

/** A certificate: prints as its pin; JSON without the private key. */
export class TlsCert {
  readonly privateKey!: string;
  constructor(
    readonly cert: string,
    privateKey: string,
    readonly pin: string,
    readonly caCert = '',
  ) {
    // Not enumerable: no JSON or inspection of the step data shows it.
    Object.defineProperty(this, 'privateKey', { value: privateKey, enumerable: false });
  }
  toString(): string {
    return `pin: ${this.pin}`;
  }
  toJSON(): Record<string, string> {
    return { cert: this.cert, pin: this.pin };
  }
}

/** Flynn's pin: base64 SHA-256 of the certificate's DER. */
export function tlsPin(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('base64');
}

export async function genTlsCert(step: Step, state: State): Promise<void> {
  const env = state.config.env;
  if (env.TLS_CERT && env.TLS_KEY) {
    state.stepData[step.id] = new TlsCert(env.TLS_CERT, env.TLS_KEY, tlsPin(env.TLS_CERT), env.TLS_CA ?? '');
    return;
  }
  const names = ((step.hosts as string[] | undefined) ?? []).filter(Boolean);
  if (names.length === 0) throw new Error('bootstrap: gen-tls-cert needs hosts');
  const pair = generateSelfSigned({ names, keyType: 'rsa' });
  state.stepData[step.id] = new TlsCert(pair.certPem, pair.keyPem, tlsPin(pair.certPem));
}

/** Flynn's LogMessage: prints as the message. */
export class LogMessage {
  constructor(readonly msg: string) {}
  toString(): string {
    return this.msg;
  }
}

export async function logStep(step: Step, state: State): Promise<void> {
  state.stepData[step.id] = new LogMessage(String(step.output ?? ''));
}
