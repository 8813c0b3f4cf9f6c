// fastify bootstrap shared by every daemon's HTTP API.
//
// Hooks, the error handler, the not-found handler and the body parser are all set directly on
// the root instance, before anything else is registered. fastify copies a context's hooks and
// handlers into every child context created after that point, so they apply to all routes,
// including routes in encapsulated plugins, with no need for fastify-plugin's
// Symbol.for('skip-override'). A plugin can still override them for its own subtree.

import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
  type onRequestHookHandler,
  type preValidationHookHandler,
} from 'fastify';
import { errors, HttpError, INVALID_JSON_MESSAGE, JSON_CONTENT_TYPE_MESSAGE, toHttpError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { kSseStreams, type SseStream } from './sse.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Opt-in JSON body rules for a route:
     * - 'strict': Flynn's DecodeJSON. The Content-Type must contain application/json (else 400
     *   validation_error "Content-Type must be application/json") and a body must be present.
     * - 'lenient': a JSON body must be present, whatever the Content-Type (Go's plain
     *   json.NewDecoder(req.Body).Decode).
     * Without it a body is optional; whenever one is sent it is parsed as JSON.
     * An empty or malformed body is 400 syntax_error "The provided JSON input is invalid".
     */
    decodeJson?: 'strict' | 'lenient';
  }
}

export type HttpServer = FastifyInstance;

export interface ComponentStatus {
  /** Anything but "healthy" answers 500; empty counts as "unhealthy". */
  status: string;
  detail?: unknown;
}

export interface HttpServerOptions {
  component: string;
  /** Defaults to createLogger({ component }). */
  logger?: Logger;
  /** Defaults to createMetrics(component). */
  metrics?: Metrics;
  /** Reported by /.well-known/status; default "dev". Empty omits it. */
  version?: string;
  /** Maximum request body in bytes; default 1 MiB. Larger → 400 request_body_too_big. */
  bodyLimit?: number;
  /** Health for /.well-known/status; default always healthy. A throw reports unhealthy. */
  status?: () => ComponentStatus | Promise<ComponentStatus>;
  /** Built-in routes; both on by default. */
  routes?: { status?: boolean; metrics?: boolean };
  /** Log every completed request at debug level (method, route, status, ms). Default true. */
  logRequests?: boolean;
  /** Passed through to fastify (timeouts and the like). */
  fastify?: Omit<
    FastifyServerOptions,
    'logger' | 'loggerInstance' | 'bodyLimit' | 'return503OnClosing' | 'frameworkErrors' | 'logController'
  >;
}

export const NOT_FOUND_BODY = '404 page not found\n';
const FLYNN_JSON = 'application/json';
const FASTIFY_JSON = 'application/json; charset=utf-8';
export const UNMATCHED_ROUTE = 'unmatched';

/** Go's http.NotFound: plain text, exactly as Flynn's routers answer an unknown path or method. */
export function sendNotFound(reply: FastifyReply): FastifyReply {
  return reply
    .code(404)
    .header('content-type', 'text/plain; charset=utf-8')
    .header('x-content-type-options', 'nosniff')
    .send(NOT_FOUND_BODY);
}

/**
 * Sends `value` as JSON with Flynn's exact `Content-Type: application/json`. A Buffer body keeps
 * fastify from appending a charset, also on replies that skip the hooks (framework errors).
 */
export function sendJson(reply: FastifyReply, status: number, value: unknown): FastifyReply {
  return reply
    .code(status)
    .header('content-type', FLYNN_JSON)
    .send(Buffer.from(JSON.stringify(value ?? null)));
}

/** Maps fastify's own errors onto Flynn's codes, everything else through toHttpError. */
export function httpErrorFrom(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as Partial<FastifyError> | null;
  switch (e?.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errors.syntax(INVALID_JSON_MESSAGE, { cause: err });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errors.bodyTooBig(undefined, { cause: err });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errors.validation(JSON_CONTENT_TYPE_MESSAGE, { cause: err });
  }
  if (e?.validation) return errors.validation(e.message ?? 'validation failed', { cause: err });
  const status = e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = e?.message ?? '';
    switch (status) {
      case 401:
        return errors.unauthorized(message, { cause: err });
      case 404:
        return errors.notFound(message, { cause: err });
      case 409:
        return errors.conflict(message, { cause: err });
      case 412:
        return errors.preconditionFailed(message, { cause: err });
      case 429:
        return errors.ratelimited(message, { cause: err });
    }
    // A truncated body, a bad URL and the like: the client sent something unreadable.
    return e?.code?.startsWith('FST_ERR_CTP_')
      ? errors.syntax(message, { cause: err })
      : errors.validation(message, { cause: err });
  }
  return toHttpError(err);
}

/** Sends any error as Flynn's envelope, with the status its code maps to. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const httpErr = httpErrorFrom(err);
  if (httpErr.status >= 500) reply.log.error({ err }, 'request failed');
  return sendJson(reply, httpErr.status, httpErr.toJSON());
}

/** onRequest hook: Flynn's DecodeJSON Content-Type check (a substring match, as in Go). */
export const requireJsonContentType: onRequestHookHandler = (request, _reply, done) => {
  const ct = request.headers['content-type'];
  done(ct?.includes('application/json') ? undefined : errors.validation(JSON_CONTENT_TYPE_MESSAGE));
};

/** preValidation hook: a request without a body is a JSON syntax error (Go's io.EOF), not a 500. */
export const requireJsonBody: preValidationHookHandler = (request, _reply, done) => {
  done(request.body === undefined ? errors.syntax() : undefined);
};

function hookList<T>(hooks: T | T[] | undefined): T[] {
  if (hooks === undefined) return [];
  return Array.isArray(hooks) ? hooks : [hooks];
}

export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { component } = options;
  const logger = options.logger ?? createLogger({ component });
  const metrics = options.metrics ?? createMetrics(component);
  const version = options.version ?? 'dev';
  const logRequests = options.logRequests ?? true;

  const app = Fastify({
    ...options.fastify,
    loggerInstance: logger as FastifyBaseLogger,
    // fastify's own per-request info lines would log every heartbeat and scrape; the onResponse
    // hook below logs completions at debug instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // fastify rejects a longer path parameter (100 characters by default); Go has no limit.
    routerOptions: { maxParamLength: 2048, ...options.fastify?.routerOptions },
    // While closing, requests get Flynn's envelope from the onRequest hook below instead of
    // fastify's own 503 body.
    return503OnClosing: false,
    frameworkErrors: (err, _request, reply) => {
      sendError(reply, err);
    },
  });

  // Every body is JSON, whatever its Content-Type, as with Go's json.Decoder. A plugin can add a
  // parser for a specific type in its own context; specific types win over this catch-all.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  app.setErrorHandler((err, request, reply) => {
    // An unknown path stays a plain 404 even if its body failed to parse or the server is closing.
    if (request.is404) sendNotFound(reply);
    else sendError(reply, err);
  });
  app.setNotFoundHandler((_request, reply) => {
    sendNotFound(reply);
  });

  app.addHook('onRoute', (route) => {
    const mode = route.config?.decodeJson;
    if (mode === undefined) return;
    route.preValidation = [requireJsonBody, ...hookList(route.preValidation)];
    if (mode === 'strict') route.onRequest = [requireJsonContentType, ...hookList(route.onRequest)];
  });

  let closing = false;
  const sseStreams = new Set<SseStream>();
  (app as unknown as Record<symbol, unknown>)[kSseStreams] = sseStreams;
  app.addHook('preClose', (done) => {
    closing = true;
    // Open event streams would otherwise keep server.close() waiting forever.
    for (const stream of [...sseStreams]) stream.close();
    done();
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? errors.serviceUnavailable(`${component}: shutting down`) : undefined);
  });

  // Flynn's hh.JSON sends `Content-Type: application/json` without a charset; fastify appends
  // one to every JSON reply, whether it serialised the body or not. Clients can see the header,
  // so put Flynn's back.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (reply.getHeader('content-type') === FASTIFY_JSON) reply.header('content-type', FLYNN_JSON);
    done(null, payload);
  });

  const duration = metrics.httpRequestDuration();
  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern (e.g. /services/:service), never the raw URL: labels stay bounded.
    const route = (!request.is404 && request.routeOptions.url) || UNMATCHED_ROUTE;
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    duration.observe({ method: request.method, route, status: String(status) }, seconds);
    if (logRequests && logger.isLevelEnabled('debug')) {
      request.log.debug(
        { method: request.method, route, status, ms: Math.round(reply.elapsedTime * 100) / 100 },
        'request completed',
      );
    }
    done();
  });

  if (options.routes?.metrics !== false) {
    app.get('/metrics', async (_request, reply) => {
      const body = await metrics.text();
      return reply.header('content-type', metrics.contentType).send(body);
    });
  }

  if (options.routes?.status !== false) {
    app.get('/.well-known/status', async (request, reply) => {
      let result: ComponentStatus;
      try {
        result = options.status ? await options.status() : { status: 'healthy' };
      } catch (err) {
        request.log.warn({ err }, 'status check failed');
        result = { status: 'unhealthy' };
      }
      return sendJson(reply, result.status === 'healthy' ? 200 : 500, {
        data: statusData(result, version),
      });
    });
  }

  return app;
}

/** The `data` object of Flynn's status envelope: status, detail (if any), version (if any). */
export function statusData(result: ComponentStatus, version: string): Record<string, unknown> {
  const data: Record<string, unknown> = { status: result.status || 'unhealthy' };
  if (result.detail !== undefined && result.detail !== null) data.detail = result.detail;
  if (version) data.version = version;
  return data;
}

export type { FastifyReply, FastifyRequest };
