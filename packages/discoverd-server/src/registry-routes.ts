import {
  EVENT_KINDS,
  type EventKind,
  type HhError,
  parseInstance,
  parseServiceConfig,
  READ_ERRORS,
  validateServiceName,
} from '@flynn-edge/discoverd-state';
import { HttpError, sendJson } from '@flynn-edge/service-kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AppliedIndexWaiter, indexWaitHook } from './applied-index.js';
import { type DiscoverdContext, writing } from './context.js';

// Flynn's service registry API (spec §1.2–1.7), route by route. Every write is checked in full
// (ctx.check) before any redirect or proposal: bad input is a 400 and never a log entry.

/** Registry request bodies: service meta data (64 KiB) is the largest. */
const REGISTRY_BODY_LIMIT = 128 * 1024;

type ServiceParams = { service: string };
type InstanceParams = { service: string; instance_id: string };

const ALL_KINDS: ReadonlySet<EventKind> = new Set(EVENT_KINDS);
const INSTANCE_KINDS: ReadonlySet<EventKind> = new Set(['up', 'update', 'down']);
const LEADER_KINDS: ReadonlySet<EventKind> = new Set(['leader']);

function hh(e: HhError): HttpError {
  return new HttpError(e.code, e.message);
}

function checkService(name: string): void {
  const err = validateServiceName(name);
  if (err) throw hh(err);
}

function wantsStream(req: FastifyRequest): boolean {
  return (req.headers.accept ?? '').includes('text/event-stream');
}

export function registryRoutes(ctx: DiscoverdContext, applied?: AppliedIndexWaiter) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    const { state, hub } = ctx;
    // Read-your-writes on any node: GET …?index=N waits until index N is applied here.
    if (applied) app.addHook('preHandler', indexWaitHook(applied));

    app.put<{ Params: ServiceParams }>(
      '/services/:service',
      { config: { decodeJson: 'strict' }, bodyLimit: REGISTRY_BODY_LIMIT },
      (req, reply) =>
        writing(reply, async () => {
          checkService(req.params.service);
          const parsed = parseServiceConfig(req.body);
          if ('error' in parsed) throw hh(parsed.error);
          const cmd = ctx.check({ type: 'addService', Service: req.params.service, Config: parsed.config });
          if (!ctx.leaderOrRedirect(req, reply)) return reply;
          await ctx.write(req, reply, cmd);
          return reply.code(200).send();
        }),
    );

    app.delete<{ Params: ServiceParams }>('/services/:service', (req, reply) =>
      writing(reply, async () => {
        checkService(req.params.service);
        const cmd = ctx.check({ type: 'removeService', Service: req.params.service });
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        await ctx.write(req, reply, cmd);
        return reply.code(200).send();
      }),
    );

    // Always a stream, whatever Accept says (Go's client dropped headers across redirects).
    app.get<{ Params: ServiceParams }>('/services/:service', (req, reply) => {
      const service = req.params.service;
      hub.subscribe(reply, service, ALL_KINDS, state.initialEvents(service, ALL_KINDS));
      return reply;
    });

    app.put<{ Params: ServiceParams; Body: { data?: unknown; index?: unknown; leader_id?: unknown } }>(
      '/services/:service/meta',
      { config: { decodeJson: 'strict' }, bodyLimit: REGISTRY_BODY_LIMIT },
      (req, reply) =>
        writing(reply, async () => {
          checkService(req.params.service);
          const body = req.body;
          if (typeof body !== 'object' || body === null || Array.isArray(body)) {
            throw new HttpError('syntax_error', 'The provided JSON input is invalid');
          }
          const index = body.index ?? 0;
          if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
            throw new HttpError('validation_error', 'discoverd: meta index must be a non-negative integer');
          }
          if (body.leader_id !== undefined && body.leader_id !== null && typeof body.leader_id !== 'string') {
            throw new HttpError('validation_error', 'discoverd: leader_id must be a string');
          }
          const meta = {
            data: body.data ?? null,
            index,
            ...(body.leader_id ? { leader_id: body.leader_id } : {}),
          };
          const cmd = ctx.check({ type: 'setServiceMeta', Service: req.params.service, Meta: meta });
          if (!ctx.leaderOrRedirect(req, reply)) return reply;
          const echoed = await ctx.write(req, reply, cmd);
          return sendJson(reply, 200, echoed);
        }),
    );

    app.get<{ Params: ServiceParams }>('/services/:service/meta', (req, reply) => {
      const meta = state.meta(req.params.service);
      if (!meta) throw hh(READ_ERRORS.metaNotFound());
      return sendJson(reply, 200, { data: meta.data ?? null, index: meta.index });
    });

    app.put<{ Params: InstanceParams }>(
      '/services/:service/instances/:instance_id',
      { bodyLimit: REGISTRY_BODY_LIMIT },
      (req, reply) =>
        writing(reply, async () => {
          const service = req.params.service;
          checkService(service);
          const parsed = parseInstance(req.body);
          if ('error' in parsed) throw hh(parsed.error);
          const clean = parsed.instance;
          if (!ctx.leaderOrRedirect(req, reply)) return reply;
          ctx.heartbeats.heartbeat({ service, id: clean.id });
          // Flynn checks "unchanged" before the service exists: a heartbeat never costs a log entry.
          if (state.instanceUnchanged(service, clean)) return reply.code(200).send();
          await ctx.write(req, reply, { type: 'addInstance', Service: service, Instance: clean });
          return reply.code(200).send();
        }),
    );

    app.delete<{ Params: InstanceParams }>('/services/:service/instances/:instance_id', (req, reply) =>
      writing(reply, async () => {
        const { service, instance_id: id } = req.params;
        checkService(service);
        const cmd = ctx.check({ type: 'removeInstance', Service: service, ID: id });
        if (!ctx.leaderOrRedirect(req, reply)) return reply;
        await ctx.write(req, reply, cmd);
        ctx.heartbeats.forget({ service, id });
        return reply.code(200).send();
      }),
    );

    app.get<{ Params: ServiceParams }>('/services/:service/instances', (req, reply) => {
      const service = req.params.service;
      if (wantsStream(req)) {
        hub.subscribe(reply, service, INSTANCE_KINDS, state.initialEvents(service, INSTANCE_KINDS));
        return reply;
      }
      const list = state.instances(service) ?? [];
      if (list.length === 0) throw hh(READ_ERRORS.instancesNotFound(service));
      return sendJson(reply, 200, list);
    });

    app.put<{ Params: ServiceParams; Body: { id?: unknown } }>(
      '/services/:service/leader',
      { config: { decodeJson: 'strict' }, bodyLimit: REGISTRY_BODY_LIMIT },
      (req, reply) =>
        writing(reply, async () => {
          const service = req.params.service;
          checkService(service);
          const id = req.body && typeof req.body === 'object' ? req.body.id : undefined;
          if (typeof id !== 'string' || id === '')
            throw new HttpError('validation_error', 'discoverd: leader id must be set');
          const cmd = ctx.check({ type: 'setLeader', Service: service, ID: id });
          if (!ctx.leaderOrRedirect(req, reply)) return reply;
          await ctx.write(req, reply, cmd);
          return reply.code(200).send();
        }),
    );

    app.get<{ Params: ServiceParams }>('/services/:service/leader', (req, reply) => {
      const service = req.params.service;
      if (wantsStream(req)) {
        hub.subscribe(reply, service, LEADER_KINDS, state.initialEvents(service, LEADER_KINDS));
        return reply;
      }
      const leader = state.leader(service);
      if (!leader) throw hh(READ_ERRORS.noLeader());
      return sendJson(reply, 200, leader);
    });
  };
}
