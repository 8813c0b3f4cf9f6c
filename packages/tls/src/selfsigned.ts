import {
  createPrivateKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import * as der from './der.js';

export interface SelfSignedOptions {
  /** DNS names (wildcards allowed) and/or IP addresses. The first is also the subject CN. */
  names: string[];
  /** Validity in days from `notBefore` (default 365). */
  days?: number;
  /** Start of validity (default: now minus 5 minutes, for clock skew). */
  notBefore?: Date;
  /** 'ec' (P-256, ecdsa-with-SHA256; default, fast) or 'rsa' (2048, sha256WithRSAEncryption). */
  keyType?: 'ec' | 'rsa';
  /** Mark as a CA (basicConstraints cA, keyCertSign). For building test chains. */
  isCA?: boolean;
  /**
   * Sign with this certificate and key instead of self-signing (issuer name is taken from the
   * issuer's CN, which is all this module ever writes). For building test chains.
   */
  issuer?: PemPair;
}

export interface PemPair {
  certPem: string;
  keyPem: string;
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip.replace(/%.*$/, '');
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(groups[i] || '0', 16), i * 2);
  return out;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? der.sequence(der.oid(id), der.boolean(true), der.octetString(value))
    : der.sequence(der.oid(id), der.octetString(value));
}

function checkOptions(opts: SelfSignedOptions): void {
  if (!Array.isArray(opts.names) || opts.names.length === 0) {
    throw new TypeError('generateSelfSigned: names must be a non-empty array');
  }
  for (const n of opts.names) {
    if (typeof n !== 'string' || n === '' || !/^[\x21-\x7e]+$/.test(n)) {
      throw new TypeError(`generateSelfSigned: invalid name ${JSON.stringify(n)}`);
    }
  }
  const days = opts.days ?? 365;
  if (!Number.isFinite(days) || days <= 0) throw new RangeError('generateSelfSigned: days must be > 0');
}

/** Build and sign the certificate for an existing key pair. */
function buildCertificate(opts: SelfSignedOptions, privateKey: KeyObject, publicKey: KeyObject): PemPair {
  const keyType = opts.keyType ?? 'ec';
  const days = opts.days ?? 365;
  const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(notBefore.getTime() + days * 86_400_000);

  const signingKey = opts.issuer ? createPrivateKey(opts.issuer.keyPem) : privateKey;
  const sigAlg =
    signingKey.asymmetricKeyType === 'ec'
      ? der.sequence(der.oid(OID.ecdsaWithSHA256))
      : der.sequence(der.oid(OID.sha256WithRSA), der.nullValue());
  const nameOf = (cn: string) =>
    der.sequence(der.set(der.sequence(der.oid(OID.commonName), der.utf8String(cn.slice(0, 64)))));
  const name = nameOf(opts.names[0]);
  let issuerName = name;
  if (opts.issuer) {
    const cnLine = new X509Certificate(opts.issuer.certPem).subject
      .split('\n')
      .find((l) => l.startsWith('CN='));
    if (!cnLine) throw new Error('generateSelfSigned: issuer certificate has no CN');
    issuerName = nameOf(cnLine.slice(3));
  }

  const serial = randomBytes(16);
  serial[0] &= 0x7f; // positive
  serial[0] |= 0x01; // and no leading zero byte to strip

  const altNames = opts.names.map((n) =>
    isIP(n)
      ? der.implicitPrimitive(7, ipBytes(n))
      : der.implicitPrimitive(2, Buffer.from(n.toLowerCase(), 'ascii')),
  );
  // keyUsage: digitalSignature (bit 0), plus keyEncipherment (bit 2) for RSA.
  // keyCertSign (bit 5) for a CA.
  const keyUsage = opts.isCA
    ? Buffer.from([2, keyType === 'ec' ? 0x84 : 0xa4])
    : Buffer.from([keyType === 'ec' ? 7 : 5, keyType === 'ec' ? 0x80 : 0xa0]);
  const extensions = der.sequence(
    extension(OID.basicConstraints, true, opts.isCA ? der.sequence(der.boolean(true)) : der.sequence()),
    extension(OID.keyUsage, true, der.tlv(0x03, keyUsage)),
    ...(opts.isCA ? [] : [extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth)))]),
    extension(OID.subjectAltName, false, der.sequence(...altNames)),
  );

  const tbs = der.sequence(
    der.explicit(0, der.integer(2)), // v3
    der.integer(serial),
    sigAlg,
    issuerName,
    der.sequence(der.x509Time(notBefore), der.x509Time(notAfter)),
    name, // subject
    publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, signingKey); // ECDSA: DER Ecdsa-Sig-Value by default
  const cert = der.sequence(tbs, sigAlg, der.bitString(signature));

  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n');
  const certPem = `-----BEGIN CERTIFICATE-----\n${b64.endsWith('\n') ? b64 : `${b64}\n`}-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { certPem, keyPem };
}

/**
 * Generate a self-signed X.509 v3 server certificate with native crypto only.
 * Synchronous: an EC key plus signature takes about a millisecond, but RSA key generation can
 * take 50–500 ms — use {@link generateSelfSignedAsync} for RSA, and never call either on the
 * request path.
 */
export function generateSelfSigned(opts: SelfSignedOptions): PemPair {
  checkOptions(opts);
  const { privateKey, publicKey } =
    (opts.keyType ?? 'ec') === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return buildCertificate(opts, privateKey, publicKey);
}

const generateKeyPairAsync = promisify(generateKeyPair);

/** As {@link generateSelfSigned}, but key generation runs on the libuv thread pool. */
export async function generateSelfSignedAsync(opts: SelfSignedOptions): Promise<PemPair> {
  checkOptions(opts);
  const { privateKey, publicKey } =
    (opts.keyType ?? 'ec') === 'ec'
      ? await generateKeyPairAsync('ec', { namedCurve: 'P-256' })
      : await generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return buildCertificate(opts, privateKey, publicKey);
}
