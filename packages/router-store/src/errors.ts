import type { RouteError } from '@flynn-edge/router-core';
import { HttpError } from '@flynn-edge/service-kit';

/** The message of a missing route; the API answers it with Flynn's empty 404. */
export const ROUTE_NOT_FOUND = 'route not found';
export const CERTIFICATE_NOT_FOUND = 'certificate not found';

/**
 * A router-core RouteError as Flynn's envelope. Flynn's detail was the submitted route (or
 * `{"field":"type"}` for a bad type); ours names the offending field and why, which Flynn's generic
 * "Invalid route" never told.
 */
export function routeHttpError(e: RouteError): HttpError {
  const detail: Record<string, string> = {};
  if (e.field) detail.field = e.field;
  if (e.reason) detail.reason = e.reason;
  return new HttpError(e.code, e.message, Object.keys(detail).length > 0 ? { detail } : {});
}

export function routeNotFound(): HttpError {
  return new HttpError('object_not_found', ROUTE_NOT_FOUND);
}

export function certificateNotFound(): HttpError {
  return new HttpError('object_not_found', CERTIFICATE_NOT_FOUND);
}

export function isRouteNotFound(err: unknown): boolean {
  return err instanceof HttpError && err.code === 'object_not_found' && err.message === ROUTE_NOT_FOUND;
}

/** Every attempt lost a race: tell the client to try again. */
export function contended(what: string): HttpError {
  return new HttpError('service_unavailable', `router: ${what} kept racing other writers; retry`, {
    retry: true,
  });
}
