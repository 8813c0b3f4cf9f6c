// TCP throughput driver: `streams` parallel connections, each repeatedly asking the backend
// (nginx) for /64mb over a raw socket through the proxy and reading until the backend closes.
import net from 'node:net';

export async function tcpThroughput({ port, seconds, streams = 4, path = '/64mb' }) {
  const deadline = Date.now() + seconds * 1000;
  let bytes = 0;
  let transfers = 0;
  let errors = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`));
      s.on('data', (c) => {
        bytes += c.length;
      });
      s.on('error', () => {
        errors++;
      });
      s.on('close', () => {
        transfers++;
        resolve();
      });
    });
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (Date.now() < deadline) await one();
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return { bytes, seconds: secs, mbps: bytes / 2 ** 20 / secs, transfers, errors };
}
