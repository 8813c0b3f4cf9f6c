import { certificateToJSON, type Route, routeToJSON } from '@flynn-edge/router-core';
import { openSse, secretKeyHook, sendError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { isRouteNotFound } from './errors.js';
import { type RouterEvents, streamEventToJSON } from './events.js';
import type { RouteStore } from './store.js';

// Flynn's classic router API (spec §2.3), served from the cluster store. Register it on a
// service-kit server (createHttpServer): its error handler and JSON body parser apply here.

export interface RouteApiOptions {
  store: RouteStore;
  events: RouterEvents;
  /** When set, every request here needs `Authorization: Bearer <key>` or basic auth with it. */
  clusterKey?: string;
  /** SSE keep-alive for /events. Default 30 s (Flynn). */
  keepAliveMs?: number;
}

export const ROUTER_KEY_MISSING = 'router: this request needs the cluster key (Authorization: Bearer <key>)';
export const ROUTER_KEY_WRONG = 'router: invalid cluster key';

type TypeId = { Params: { type: string; id: string } };
type Id = { Params: { id: string } };

/** Flynn answered a missing route with a bare 404. */
function routeError(reply: FastifyReply, err: unknown): FastifyReply {
  if (isRouteNotFound(err)) return reply.code(404).send();
  return sendError(reply, err);
}

async function routeReply(reply: FastifyReply, work: () => Promise<Route>): Promise<FastifyReply> {
  try {
    return sendJson(reply, 200, routeToJSON(await work()));
  } catch (err) {
    return routeError(reply, err);
  }
}

export async function routeApiPlugin(app: FastifyInstance, opts: RouteApiOptions): Promise<void> {
  const { store, events } = opts;
  if (opts.clusterKey) {
    // The same check as discoverd's cluster key (constant-time, bearer or basic password).
    app.addHook(
      'onRequest',
      secretKeyHook({
        key: opts.clusterKey,
        realm: 'router',
        missing: ROUTER_KEY_MISSING,
        wrong: ROUTER_KEY_WRONG,
      }),
    );
  }

  app.post('/routes', { config: { decodeJson: 'lenient' } }, (req, reply) =>
    routeReply(reply, () => store.createRoute(req.body)),
  );
  app.put<TypeId>('/routes/:type/:id', { config: { decodeJson: 'lenient' } }, (req, reply) =>
    routeReply(reply, () => store.updateRoute(req.params.type, req.params.id, req.body)),
  );
  app.get<TypeId>('/routes/:type/:id', (req, reply) =>
    routeReply(reply, () => store.getRoute(req.params.type, req.params.id)),
  );
  app.delete<TypeId>('/routes/:type/:id', async (req, reply) => {
    try {
      await store.deleteRoute(req.params.type, req.params.id);
      return reply.code(200).send();
    } catch (err) {
      return routeError(reply, err);
    }
  });
  app.get<{ Querystring: { parent_ref?: string } }>('/routes', async (req, reply) => {
    const routes = await store.listRoutes(req.query.parent_ref || undefined);
    return sendJson(reply, 200, routes.map(routeToJSON));
  });

  app.post('/certificates', { config: { decodeJson: 'lenient' } }, async (req, reply) =>
    sendJson(reply, 200, certificateToJSON(await store.createCertificate(req.body))),
  );
  app.get('/certificates', async (_req, reply) =>
    sendJson(reply, 200, (await store.listCertificates()).map(certificateToJSON)),
  );
  app.get<Id>('/certificates/:id', async (req, reply) =>
    sendJson(reply, 200, certificateToJSON(await store.getCertificate(req.params.id))),
  );
  app.get<Id>('/certificates/:id/routes', async (req, reply) =>
    sendJson(reply, 200, (await store.certificateRoutes(req.params.id)).map(routeToJSON)),
  );
  app.delete<Id>('/certificates/:id', async (req, reply) => {
    await store.deleteCertificate(req.params.id);
    return reply.code(200).send();
  });

  app.get<{ Querystring: { types?: string } }>('/events', (req, reply) => {
    const types = new Set(
      (req.query.types ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
    );
    let unsubscribe = () => {};
    const stream = openSse(reply, {
      keepAliveMs: opts.keepAliveMs ?? 30_000,
      onClose: () => unsubscribe(),
    });
    unsubscribe = events.subscribe(types, (ev) => {
      stream.send(undefined, JSON.stringify(streamEventToJSON(ev)));
    });
    if (stream.closed) unsubscribe();
  });
}
