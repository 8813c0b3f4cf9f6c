import { generateSelfSigned, type PemPair } from './selfsigned.js';
import { validateKeyPair } from './validate.js';

export interface DefaultCertificateOptions {
  /** Names for a generated certificate (default ['localhost']). */
  names?: string[];
  /** Validity of a generated certificate in days (default 365). */
  days?: number;
  /** Where to say that a certificate was generated (default console.warn). */
  log?: (message: string) => void;
}

export interface DefaultCertificate extends PemPair {
  generated: boolean;
  fingerprint: string;
}

/**
 * The router's default certificate at start: the configured pair if given (validated; a bad
 * pair throws with the validation error, so start-up fails loudly), otherwise a freshly
 * generated self-signed EC certificate, announced through `log`.
 */
export function resolveDefaultCertificate(
  configured: Partial<PemPair> | undefined,
  opts: DefaultCertificateOptions = {},
): DefaultCertificate {
  const log = opts.log ?? ((m: string) => console.warn(m));
  const certPem = configured?.certPem?.trim() ? configured.certPem : undefined;
  const keyPem = configured?.keyPem?.trim() ? configured.keyPem : undefined;
  if (certPem || keyPem) {
    if (!certPem || !keyPem)
      throw new Error('default TLS certificate: both a certificate and a key are required');
    const r = validateKeyPair(certPem, keyPem);
    if (!r.ok) throw new Error(`default TLS certificate is invalid: ${r.error}`);
    return { certPem, keyPem, generated: false, fingerprint: r.info.fingerprint };
  }
  const names = opts.names ?? ['localhost'];
  const pair = generateSelfSigned({ names, days: opts.days ?? 365 });
  const r = validateKeyPair(pair.certPem, pair.keyPem);
  if (!r.ok) throw new Error(`generated default certificate failed validation: ${r.error}`);
  log(
    `no default TLS certificate configured: generated a self-signed certificate for ${names.join(', ')} (sha256 ${r.info.fingerprint})`,
  );
  return { ...pair, generated: true, fingerprint: r.info.fingerprint };
}
