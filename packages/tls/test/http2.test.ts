import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { generateSelfSigned, SniContextCache } from '../src/index.js';

describe('with http2.createSecureServer', () => {
  it('serves an HTTP/2 request over TLS with the SNI-chosen certificate', async () => {
    const site = generateSelfSigned({ names: ['h2.example'] });
    const fallback = generateSelfSigned({ names: ['default.invalid'] });
    const cache = new SniContextCache({
      defaultContext: fallback,
      lookup: (n) => (n === 'h2.example' ? site : undefined),
    });
    const server = http2.createSecureServer({ ...cache.serverOptions(), allowHTTP1: true }, (req, res) => {
      res.end(`hello over ${req.httpVersion}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const client = http2.connect(`https://127.0.0.1:${port}`, { servername: 'h2.example', ca: site.certPem });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        client.on('error', reject);
        const req = client.request({ ':path': '/', ':authority': 'h2.example' });
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (d) => {
          data += d;
        });
        req.on('end', () => resolve(data));
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('hello over 2.0');
      expect(cache.stats().misses).toBe(1);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
