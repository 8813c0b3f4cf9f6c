import type { FastifyReply, FastifyRequest } from 'fastify';

// Flynn's redirect rule (spec §1.2): the same path and query on the target host, with the port
// taken from the request's own Host header (every node listens on the same port), scheme http
// unless the request came over TLS.

export function redirectTarget(req: FastifyRequest, targetAddr: string): string {
  const targetHost = targetAddr.slice(0, targetAddr.lastIndexOf(':'));
  const hostHeader = req.headers.host ?? '';
  const colon = hostHeader.lastIndexOf(':');
  const port = colon > 0 && !hostHeader.endsWith(']') ? hostHeader.slice(colon + 1) : '';
  const scheme = (req.raw.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${targetHost}${port ? `:${port}` : ''}${req.raw.url ?? '/'}`;
}

export function sendRedirect(reply: FastifyReply, req: FastifyRequest, targetAddr: string): FastifyReply {
  return reply.code(307).header('location', redirectTarget(req, targetAddr)).send();
}
