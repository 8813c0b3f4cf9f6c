#!/usr/bin/env node
// Certificate building (issue 12, "decisions written down"): what a self-signed server
// certificate costs with our native-crypto DER builder (packages/tls), node-forge (the design
// card's choice) and @peculiar/x509 (a maintained X.509 builder on WebCrypto). Per certificate:
// wall time and the longest event-loop block, since the router builds certificates in-process.
// No root, no Debian packages: `node bench/certs/run.mjs [--n 40] [--out bench/results/certs.md]`.
import { generateKeyPairSync, webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { generateSelfSigned, generateSelfSignedAsync } from '@flynn-edge/tls';
import 'reflect-metadata'; // @peculiar/x509's dependency injection (tsyringe) needs it loaded first
import * as x509 from '@peculiar/x509';
import forge from 'node-forge';

const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '40' },
    out: { type: 'string', default: new URL('../results/certs.md', import.meta.url).pathname },
  },
});
const N = Number(opt.n);
x509.cryptoProvider.set(webcrypto);
const names = ['bench.test', '*.bench.test'];

/** Runs fn N times; median and max ms per call, and the longest event-loop block seen. */
async function time(label, fn) {
  await fn(); // warm-up
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const ms = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
    await new Promise((r) => setImmediate(r));
  }
  h.disable();
  ms.sort((a, b) => a - b);
  return { label, p50: ms[Math.floor(N / 2)], max: ms[N - 1], block: h.max / 1e6 };
}

// RSA keys are made once: key generation is native in all three and not what is compared.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const forgeKey = forge.pki.privateKeyFromPem(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }));
const forgePub = forge.pki.publicKeyFromPem(rsa.publicKey.export({ type: 'spki', format: 'pem' }));
const webRsa = {
  privateKey: await webcrypto.subtle.importKey(
    'pkcs8',
    rsa.privateKey.export({ type: 'pkcs8', format: 'der' }),
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    true,
    ['sign'],
  ),
  publicKey: await webcrypto.subtle.importKey(
    'spki',
    rsa.publicKey.export({ type: 'spki', format: 'der' }),
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    true,
    ['verify'],
  ),
};

function forgeCert() {
  const c = forge.pki.createCertificate();
  c.publicKey = forgePub;
  c.serialNumber = '01';
  c.validity.notBefore = new Date();
  c.validity.notAfter = new Date(Date.now() + 365 * 864e5);
  const attrs = [{ name: 'commonName', value: names[0] }];
  c.setSubject(attrs);
  c.setIssuer(attrs);
  c.setExtensions([{ name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) }]);
  c.sign(forgeKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}

async function peculiarCert(keys, signingAlgorithm) {
  const c = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${names[0]}`,
    notBefore: new Date(),
    notAfter: new Date(Date.now() + 365 * 864e5),
    keys,
    signingAlgorithm,
    extensions: [new x509.SubjectAlternativeNameExtension(names.map((value) => ({ type: 'dns', value })))],
  });
  return c.toString('pem');
}

const rows = [
  await time('ours (native crypto + DER), EC P-256, key included', () => generateSelfSigned({ names })),
  await time('@peculiar/x509, EC P-256, key included', async () => {
    const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ]);
    return peculiarCert(keys, { name: 'ECDSA', hash: 'SHA-256' });
  }),
  await time('ours, RSA 2048, key generated on the thread pool', () =>
    generateSelfSignedAsync({ names, keyType: 'rsa' }),
  ),
  await time('@peculiar/x509, RSA 2048, key given', () => peculiarCert(webRsa, webRsa.privateKey.algorithm)),
  await time('node-forge 1.4, RSA 2048, key given (forge has no EC)', () => forgeCert()),
];

const fmt = (v) => v.toFixed(2);
let md = `# Certificate building\n\nCommand: \`node bench/certs/run.mjs --n ${N}\` (${new Date().toISOString().slice(0, 10)})\n`;
md += `Machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}; load ${os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ')}\n\n`;
md += '| builder | p50 ms | max ms | longest event-loop block, ms |\n|---|---|---|---|\n';
for (const r of rows) md += `| ${r.label} | ${fmt(r.p50)} | ${fmt(r.max)} | ${fmt(r.block)} |\n`;
md +=
  '\nRSA rows differ in what they include: ours generates a fresh key each time (off the event loop), the others sign with a given key. The event-loop column is the one that matters for a router building certificates next to live traffic.\n';
writeFileSync(opt.out, md);
console.log(md);
