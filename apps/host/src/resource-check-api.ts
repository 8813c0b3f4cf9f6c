import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance } from 'fastify';

// POST /host/resource-check {"ports":[{"port":80,"proto":"tcp"}]}: can this host's jobs bind
// these ports? bootstrap asks every host before it starts anything (Flynn's ResourceCheck).
// 200 {} when all are free, else 409 conflict with the taken ones in detail.ports. Flynn bound
// ":PORT"; here jobs bind the host's external address (several hosts may share one machine),
// so that is what is tried.

export interface CheckedPort {
  port: number;
  proto: 'tcp' | 'udp';
}

function portsOf(body: unknown): CheckedPort[] {
  const ports = (body as { ports?: unknown } | null)?.ports ?? [];
  if (!Array.isArray(ports)) throw new HttpError('validation_error', 'ports must be a list');
  return ports.map((p: { port?: unknown; proto?: unknown }) => {
    const port = p?.port;
    const proto = p?.proto === undefined || p.proto === '' ? 'tcp' : p.proto;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new HttpError('validation_error', `invalid port ${JSON.stringify(port)}`);
    }
    if (proto !== 'tcp' && proto !== 'udp') {
      throw new HttpError('validation_error', `invalid proto ${JSON.stringify(proto)}: want tcp or udp`);
    }
    return { port, proto };
  });
}

/** True when `host:port` can be bound now (the socket is closed again at once). */
export function portFree(host: string, p: CheckedPort): Promise<boolean> {
  return new Promise((resolve) => {
    if (p.proto === 'udp') {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', () => resolve(false));
      s.bind(p.port, host, () => s.close(() => resolve(true)));
      return;
    }
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port: p.port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export async function resourceCheckApiPlugin(
  app: FastifyInstance,
  opts: { externalIp: string },
): Promise<void> {
  app.post('/host/resource-check', { config: { decodeJson: 'lenient' } }, async (req, reply) => {
    const ports = portsOf(req.body);
    const conflicts: CheckedPort[] = [];
    for (const p of ports) if (!(await portFree(opts.externalIp, p))) conflicts.push(p);
    if (conflicts.length > 0) {
      throw new HttpError('conflict', 'Conflicting resources found', { detail: { ports: conflicts } });
    }
    return sendJson(reply, 200, {});
  });
}
