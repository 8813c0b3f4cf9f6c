// Flynn's permissive CORS (pkg/cors with httphelper.CORSAllowAll, spec §3), less one header:
// `Access-Control-Allow-Credentials` is never sent, so a foreign page cannot read the status
// with the visitor's basic-auth credentials. An OPTIONS request with an Origin is answered 200
// at once, before the key check, as in Flynn.

export const CORS_ALLOW_METHODS = 'GET,POST,PUT,PATCH,DELETE,HEAD';
export const CORS_ALLOW_HEADERS =
  'Auth-Key,Authorization,Accept,Content-Type,If-Match,If-None-Match,X-GRPC-Web';
export const CORS_EXPOSE_HEADERS = 'ETag,Content-Disposition';
export const CORS_MAX_AGE = '3600';

/** The CORS headers for a request with this Origin; none without one. */
export function corsHeaders(origin: string | undefined): Record<string, string> {
  if (!origin) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': CORS_ALLOW_METHODS,
    'access-control-allow-headers': CORS_ALLOW_HEADERS,
    'access-control-expose-headers': CORS_EXPOSE_HEADERS,
    'access-control-max-age': CORS_MAX_AGE,
  };
}

/** A preflight answered 200 with an empty body before anything else runs. */
export function isPreflight(method: string, origin: string | undefined): boolean {
  return method === 'OPTIONS' && !!origin;
}
