import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import { normaliseHost } from './covers.js';

export interface CertificateMaterial {
  certPem: string;
  keyPem: string;
  /** The leaf's SHA-256 fingerprint if the caller already knows it (saves a parse per miss). */
  fingerprint?: string;
}

/**
 * What the router knows about an SNI host name:
 * - material: serve that certificate;
 * - 'default': the host is routed but has no certificate of its own — serve the default;
 * - undefined/null: no route — fail the handshake (as Flynn).
 */
export type SniLookupResult = CertificateMaterial | 'default' | undefined | null;

export interface SniContextCacheOptions {
  /** Upper bound on cached per-certificate contexts (default 1000). */
  maxContexts?: number;
  /** Context (or material) for handshakes without SNI and for routes without a certificate. */
  defaultContext?: tls.SecureContext | CertificateMaterial;
  lookup: (servername: string) => SniLookupResult;
  /** Default 'TLSv1.2'; pass 'TLSv1' for LEGACY_TLS. */
  minVersion?: tls.SecureVersion;
  /** ALPN protocols, in server preference order (default ['h2', 'http/1.1']). */
  alpn?: string[];
  /** Extra createSecureContext options (ciphers, ecdhCurve, …) for every context built. */
  contextOptions?: tls.SecureContextOptions;
}

export interface SniStats {
  hits: number;
  misses: number;
  evictions: number;
  size: number;
  /** Handshakes refused because the name has no route. */
  unknown: number;
  /** Handshakes refused because a lookup threw or a context failed to build. */
  failures: number;
  /** Handshakes given the default context via a route without its own certificate. */
  defaults: number;
}

export class UnknownServerNameError extends Error {
  constructor(readonly servername: string) {
    super(`no route for TLS server name ${JSON.stringify(servername)}`);
    this.name = 'UnknownServerNameError';
  }
}

function isMaterial(x: unknown): x is CertificateMaterial {
  return typeof x === 'object' && x !== null && typeof (x as CertificateMaterial).certPem === 'string';
}

/**
 * Lazily builds one `tls.SecureContext` per certificate (keyed by the leaf fingerprint, so many
 * hostnames sharing a certificate share one context), keeping at most `maxContexts` in LRU order.
 * Nothing it does on the handshake path throws: failures become handshake errors.
 */
export class SniContextCache {
  readonly maxContexts: number;
  readonly minVersion: tls.SecureVersion;
  readonly alpn: string[];
  private readonly lookup: SniContextCacheOptions['lookup'];
  private readonly contextOptions: tls.SecureContextOptions;
  private readonly contexts = new Map<string, tls.SecureContext>();
  /** certPem → fingerprint memo, so a cache hit does not re-parse the certificate. Bounded. */
  private readonly fingerprints = new Map<string, string>();
  private defaultCtx: tls.SecureContext | undefined;
  private defaultMaterial: CertificateMaterial | undefined;
  private counters = { hits: 0, misses: 0, evictions: 0, unknown: 0, failures: 0, defaults: 0 };

  constructor(opts: SniContextCacheOptions) {
    const max = opts.maxContexts ?? 1000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError('maxContexts must be a positive integer');
    if (typeof opts.lookup !== 'function') throw new TypeError('lookup must be a function');
    this.maxContexts = max;
    this.minVersion = opts.minVersion ?? 'TLSv1.2';
    this.alpn = opts.alpn ?? ['h2', 'http/1.1'];
    this.lookup = opts.lookup;
    this.contextOptions = opts.contextOptions ?? {};
    if (opts.defaultContext) this.setDefault(opts.defaultContext);
  }

  /** Replace the default certificate. Throws if material does not build (call at start/API time). */
  setDefault(ctx: tls.SecureContext | CertificateMaterial): void {
    if (isMaterial(ctx)) {
      this.defaultCtx = this.build(ctx);
      this.defaultMaterial = ctx;
    } else {
      this.defaultCtx = ctx;
      this.defaultMaterial = undefined;
    }
  }

  get defaultContext(): tls.SecureContext | undefined {
    return this.defaultCtx;
  }

  /**
   * For `tls.createServer` / `http2.createSecureServer`: SNICallback, versions, ALPN and the
   * default certificate. Node adds an SNI context's certificate to the connection beside the
   * server's own, one slot per key type, so a default of another key type can win the signature
   * algorithm choice (TLS 1.3 prefers ECDSA): a server that serves routes' certificates to clients
   * sending SNI must be built with `{ defaultCertificate: false }` (SniTerminator does this).
   */
  serverOptions(opts: { defaultCertificate?: boolean } = {}): tls.TlsOptions {
    const o: tls.TlsOptions = {
      ...this.contextOptions,
      SNICallback: this.SNICallback,
      minVersion: this.minVersion,
      ALPNProtocols: this.alpn,
    };
    if (this.defaultMaterial && opts.defaultCertificate !== false) {
      o.cert = this.defaultMaterial.certPem;
      o.key = this.defaultMaterial.keyPem;
    }
    return o;
  }

  private build(m: CertificateMaterial): tls.SecureContext {
    return tls.createSecureContext({
      ...this.contextOptions,
      cert: m.certPem,
      key: m.keyPem,
      minVersion: this.minVersion,
    });
  }

  /** Return the context for a servername, or throw. Exposed for tests and warm-up. */
  contextFor(servername: string): tls.SecureContext {
    const name = normaliseHost(servername);
    const found = this.lookup(name);
    if (found === 'default') {
      if (!this.defaultCtx) throw new Error(`no default certificate for ${JSON.stringify(name)}`);
      this.counters.defaults++;
      return this.defaultCtx;
    }
    if (!isMaterial(found)) {
      this.counters.unknown++;
      throw new UnknownServerNameError(name);
    }
    const fp = found.fingerprint ?? this.fingerprintOf(found.certPem);
    const cached = this.contexts.get(fp);
    if (cached) {
      this.counters.hits++;
      this.contexts.delete(fp);
      this.contexts.set(fp, cached);
      return cached;
    }
    this.counters.misses++;
    const ctx = this.build(found);
    this.contexts.set(fp, ctx);
    while (this.contexts.size > this.maxContexts) {
      const oldest = this.contexts.keys().next().value as string;
      this.contexts.delete(oldest);
      this.counters.evictions++;
    }
    return ctx;
  }

  /** Arrow so it can be handed to tls.createServer unbound. Never throws. */
  readonly SNICallback = (
    servername: string,
    cb: (err: Error | null, ctx?: tls.SecureContext) => void,
  ): void => {
    let ctx: tls.SecureContext;
    try {
      ctx = this.contextFor(servername);
    } catch (e) {
      if (!(e instanceof UnknownServerNameError)) this.counters.failures++;
      cb(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    cb(null, ctx);
  };

  private fingerprintOf(certPem: string): string {
    let fp = this.fingerprints.get(certPem);
    if (fp === undefined) {
      fp = new X509Certificate(certPem).fingerprint256;
      this.fingerprints.set(certPem, fp);
      if (this.fingerprints.size > 2 * this.maxContexts) {
        this.fingerprints.delete(this.fingerprints.keys().next().value as string);
      }
    }
    return fp;
  }

  /** Drop the cached context for a certificate (hot update / deletion). Returns whether one existed. */
  invalidate(fingerprint: string): boolean {
    return this.contexts.delete(fingerprint);
  }

  clear(): void {
    this.contexts.clear();
    this.fingerprints.clear();
  }

  stats(): SniStats {
    return { ...this.counters, size: this.contexts.size };
  }
}
