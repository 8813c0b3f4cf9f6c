import { randomUUID } from 'node:crypto';
import { type BodyFraming, isValidRequestId, type RequestHead, requestFraming } from '@flynn-edge/http1';
import { normaliseHost } from '@flynn-edge/router-core';
import { parseAbsoluteTarget } from './absolute-form.js';
import { BackendAttempt } from './backend-attempt.js';
import type { ClientConn } from './client-connection.js';
import { type RequestRecord, recordRequest } from './proxy-core.js';
import { simpleResponse } from './responses.js';
import { findStickyCookie } from './sticky.js';
import type { Backend, ResolvedRoute } from './types.js';
import { Upstream } from './upstream.js';

/*
 * One request and its response on a client connection, created per request head; the backend
 * side is its Upstream (upstream.ts).
 *
 * | phase | meaning                                          | next                              |
 * |-------|--------------------------------------------------|-----------------------------------|
 * | Route | head parsed: answer here or pick a backend       | Done (200, 404, 308, 400, 503);   |
 * |       | (a local responder's known answer first: ACME)   | Dial                              |
 * | Dial  | connecting (again after a dial error or a stale  | Body; Wait; Done (503)            |
 * |       | pooled socket)                                   |                                   |
 * | Body  | head sent, forwarding the request body           | Wait; Done                        |
 * | Wait  | request sent, waiting for (the rest of) the      | Done; Dial (stale pooled socket)  |
 * |       | response                                         |                                   |
 * | Done  | recorded (metrics, access log)                   | -                                 |
 *
 * The response does not wait for the request: a backend may answer, and the upstream relay the
 * response body, while the request body is still arriving. Done comes with the end of the
 * response (the connection reads the next head), a 101 (the connection becomes a tunnel), a
 * backend failure (503 before the response head, 504 after the response-header timeout, an
 * abort after the head), a broken request body (400), or the client going away (499).
 */
export enum Phase {
  Route,
  Dial,
  Body,
  Wait,
  Done,
}

export class Exchange implements RequestRecord {
  phase = Phase.Route;
  start: number;
  /** Null for a head the parser rejected. */
  head: RequestHead | null = null;
  /** The authority of an absolute-form target: sent as Host instead of the client's. */
  targetHost: string | null = null;
  resolved: ResolvedRoute | null = null;
  routeLabel = '_none';
  requestId = '';
  reqFraming: BodyFraming | null = null;
  reqBodyDone = true;
  upgrade = false;
  status = 0;
  up: Upstream | null = null;

  constructor(readonly conn: ClientConn) {
    this.start = conn.core.clock();
  }

  /** Routes a parsed head: answers it here (404, 308, 503) or hands it to an Upstream. */
  begin(parsed: RequestHead, raw: Buffer, rawEnd: number): void {
    const conn = this.conn;
    const core = conn.core;
    let head = parsed;
    // The router is not a forward proxy. Forwarded, a CONNECT that a catch-all backend answers
    // with 2xx would become a raw tunnel past routing and the header rewriting status trusts.
    if (head.method === 'CONNECT') {
      this.reject(405, 'CONNECT is not supported');
      return;
    }
    if (head.target.charCodeAt(0) !== 47 && head.target !== '*') {
      const abs = parseAbsoluteTarget(head.target);
      if (abs !== null && 'error' in abs) {
        this.reject(400, abs.error);
        return;
      }
      if (abs !== null) {
        head = { ...head, target: abs.path, host: abs.host };
        this.targetHost = abs.host;
      }
    }
    this.head = head;
    if (!head.keepAlive || core.closing || conn.clientEnded) conn.closeAfter = true;
    this.reqFraming = requestFraming(head);
    this.reqBodyDone = this.reqFraming.done;
    this.requestId = requestIdOf(head);

    // Only a known answer is given here: any other request under the prefix is routed as usual
    // (an app may run its own http-01 behind the router).
    const local = core.localResponder;
    if (local !== undefined && head.target.startsWith(local.prefix)) {
      const body = local.answer(head.host ?? undefined, head.target);
      if (body !== undefined) {
        this.answerResponder(body, head.method === 'HEAD');
        return;
      }
    }
    const resolved = core.resolver.resolve(head.host ?? undefined, conn.info.listenerPort, head.target);
    if (resolved === undefined) {
      this.answerLocal(404, core.canned.notFound, core.canned.notFoundClose);
      return;
    }
    this.resolved = resolved;
    const route = resolved.route;
    this.routeLabel = core.routeLabel(route);
    if (route.https_redirect === true && conn.info.scheme === 'http') {
      const target = head.target.charCodeAt(0) === 47 ? head.target : '/';
      const loc = `https://${normaliseHost(head.host ?? '')}${target}`;
      const close = conn.closeAfter || !this.reqBodyDone;
      this.answerLocal(
        308,
        simpleResponse(308, '', close, 'text/plain; charset=utf-8', `Location: ${loc}\r\n`),
        null,
      );
      return;
    }
    let stickyAddr: string | undefined;
    if (route.sticky) {
      const c = findStickyCookie(head.headers);
      if (c !== undefined) stickyAddr = core.sticky.decode(c);
    }
    this.upgrade = head.upgrade !== null;
    let reqHead: Buffer;
    try {
      const close = route.disable_keep_alives && !this.upgrade;
      reqHead = conn.forward.rewrite(
        head,
        raw,
        rawEnd,
        this.start,
        this.requestId,
        close,
        this.upgrade,
        this.targetHost,
      );
    } catch {
      this.reject(400, 'invalid request');
      return;
    }
    this.phase = Phase.Dial;
    const up = new Upstream(
      this,
      new BackendAttempt(core, resolved.backends, stickyAddr, this.upgrade),
      reqHead,
    );
    this.up = up;
    up.start();
  }

  /** A head (or body) we cannot accept: answered, recorded and the connection closed. */
  reject(status: number, reason: string): void {
    const conn = this.conn;
    const core = conn.core;
    core.logger?.debug?.({ client_addr: conn.clientAddr, status, reason }, 'bad request');
    this.status = status;
    this.start = core.clock();
    this.head = null;
    this.resolved = null;
    this.routeLabel = '_none';
    conn.write(simpleResponse(status, `${reason}\n`, true));
    this.record();
    conn.endClient();
  }

  /** Answers a request without a backend (404, 308). A request body we do not read means close. */
  private answerLocal(status: number, keep: Buffer, close: Buffer | null): void {
    const conn = this.conn;
    this.status = status;
    if (!this.reqBodyDone) conn.closeAfter = true;
    conn.write(conn.closeAfter || close === null ? (close ?? keep) : keep);
    this.record();
    conn.nextRequest();
  }

  /** The local responder's 200; a HEAD gets the head alone (its Content-Length still the body's). */
  private answerResponder(body: string, headOnly: boolean): void {
    const close = this.conn.closeAfter || !this.reqBodyDone;
    const res = simpleResponse(200, body, close);
    const len = Buffer.byteLength(body);
    this.answerLocal(200, headOnly ? res.subarray(0, res.length - len) : res, null);
  }

  /** No backend could be reached: 503. */
  failUnavailable(): void {
    const conn = this.conn;
    const canned = conn.core.canned;
    this.status = 503;
    if (!this.reqBodyDone) conn.closeAfter = true;
    conn.write(conn.closeAfter ? canned.unavailableClose : canned.unavailable);
    this.record();
    conn.nextRequest();
  }

  /** The client closed during the exchange (499). */
  clientGone(): void {
    this.up?.abandon();
    this.status = 499;
    this.record();
  }

  record(): void {
    this.phase = Phase.Done;
    recordRequest(this.conn.core, this);
  }

  // ---- RequestRecord ----

  get clientAddr(): string {
    return this.conn.clientAddr;
  }
  get host(): string {
    return this.head?.host ?? '';
  }
  get path(): string {
    return this.head?.target ?? '';
  }
  get method(): string {
    return this.head?.method ?? '';
  }
  get backend(): Backend | null {
    return this.up?.attempt.backend ?? null;
  }
  get connReused(): boolean {
    return this.up?.attempt.reused ?? false;
  }
  get scheme(): 'http' | 'https' {
    return this.conn.info.scheme;
  }
}

/** The client's X-Request-Id when valid, else a new one. */
function requestIdOf(head: RequestHead): string {
  const hs = head.headers;
  for (let i = 0; i < hs.length; i++) {
    const n = hs[i][0];
    if (n.length === 12 && (n === 'X-Request-Id' || n.toLowerCase() === 'x-request-id')) {
      if (isValidRequestId(hs[i][1])) return hs[i][1];
      break;
    }
  }
  return randomUUID();
}
