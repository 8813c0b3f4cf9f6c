import { LLHTTP_METHODS } from './llhttp.js';
import { type End, firstDifference, type Message, type Outcome, sameMessage } from './outcome.js';

/**
 * The documented differences between our parser and llhttp (docs/compatibility.md, "HTTP/1.1
 * parser versus Node's llhttp"). Each class is a narrow predicate over the first request on which
 * the two disagree; a disagreement that no class explains fails the differential test.
 */

/** What one parser did with the request where the outcomes diverge. */
export type Side = { msg: Message } | { end: End; reason: string };

/** A rough, never-failing split of the divergent request's head, for the predicates. */
interface RoughHead {
  /** CR/LF bytes before the request line. */
  lead: string;
  line: string;
  /** The request line up to the first LF, even a bare one. */
  lfLine: string;
  /** Field lines split at the first colon; values untrimmed. */
  fields: Array<[name: string, value: string]>;
  /** Bytes from the request line to the end of the head (or of the input). */
  size: number;
  /** What follows the head. */
  body: string;
}

export interface Divergence {
  head: RoughHead;
  ours: Side;
  ll: Side;
}

function roughHead(rest: string): RoughHead {
  const lead = /^[\r\n]*/.exec(rest)![0];
  const s = rest.slice(lead.length);
  const end = s.indexOf('\r\n\r\n');
  const headText = end < 0 ? s : s.slice(0, end);
  const [line, ...lines] = headText.split('\r\n');
  const fields = lines.map((l): [string, string] => {
    const c = l.indexOf(':');
    return c < 0 ? [l, ''] : [l.slice(0, c), l.slice(c + 1)];
  });
  const lfLine = s.split('\n')[0].replace(/\r$/, '');
  return { lead, line, lfLine, fields, size: headText.length, body: end < 0 ? '' : s.slice(end + 4) };
}

const msgOf = (s: Side): Message | undefined => ('msg' in s ? s.msg : undefined);
const reasonOf = (s: Side): string => ('reason' in s ? s.reason : '');
const values = (h: RoughHead, lower: string) =>
  h.fields.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
const tokens = (h: RoughHead, lower: string) =>
  values(h, lower).flatMap((v) => v.split(',').map((t) => t.trim().toLowerCase()));
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Connection lists both close and keep-alive: we close, llhttp keeps an HTTP/1.0 connection. */
const closeWins = (h: RoughHead) => {
  const t = tokens(h, 'connection');
  return t.includes('close') && t.includes('keep-alive');
};
const rawValueHas = (h: RoughHead, lower: string, re: RegExp) => values(h, lower).some((v) => re.test(v));
/** Our rejection with this reason while llhttp took the request. */
const oursRejects = (d: Divergence, reason: string) => reasonOf(d.ours).endsWith(reason) && 'msg' in d.ll;
/** llhttp's rejection with one of these codes while we took the request. */
const llRejects = (d: Divergence, ...codes: string[]) =>
  'msg' in d.ours && codes.some((c) => reasonOf(d.ll).startsWith(c));
/** Both took the request and differ only in the listed message fields. */
function differOnlyIn(d: Divergence, ...keys: Array<keyof Message>): boolean {
  const a = msgOf(d.ours);
  const b = msgOf(d.ll);
  if (a === undefined || b === undefined) return false;
  const patched = { ...a };
  for (const k of keys) (patched as Record<string, unknown>)[k] = b[k];
  return sameMessage(patched, b);
}

export interface KnownClass {
  id: string;
  test(d: Divergence): boolean;
}

export const KNOWN_CLASSES: readonly KnownClass[] = [
  {
    // llhttp (and node:http) always tunnel after CONNECT; the router treats it as a request.
    id: 'connect-not-a-tunnel',
    test: (d) => {
      const l = msgOf(d.ll);
      if (l?.method !== 'CONNECT' || !l.upgrade) return false;
      if (differOnlyIn(d, 'upgrade', 'body')) return true;
      if (differOnlyIn(d, 'upgrade', 'body', 'keepAlive') && closeWins(d.head)) return true;
      // We read a body llhttp never looks at, or reject the head's framing fields.
      return reasonOf(d.ours).startsWith('body') || /Content-Length|Transfer-Encoding/.test(reasonOf(d.ours));
    },
  },
  { id: 'upgrade-without-host', test: (d) => oursRejects(d, 'missing Host') && msgOf(d.ll)!.upgrade },
  {
    id: 'multiple-host',
    test: (d) => oursRejects(d, 'multiple Host headers') && values(d.head, 'host').length > 1,
  },
  { id: 'host-characters', test: (d) => oursRejects(d, 'invalid Host') },
  {
    id: 'over-100-fields',
    test: (d) => oursRejects(d, '431 too many header fields') && d.head.fields.length > 100,
  },
  {
    id: 'request-line-over-8k',
    test: (d) => oursRejects(d, '414 request line too long') && d.head.line.length > 8192,
  },
  { id: 'head-over-16k', test: (d) => llRejects(d, 'HPE_HEADER_OVERFLOW') && d.head.size > 16384 },
  {
    id: 'whitespace-before-request-line',
    test: (d) =>
      /bare LF|bare CR|too many empty lines/.test(reasonOf(d.ours)) &&
      !/^(\r\n){0,2}$/.test(d.head.lead) &&
      ('msg' in d.ll || reasonOf(d.ll) === '' || d.head.line === ''),
  },
  {
    id: 'request-line-extra-spaces',
    test: (d) =>
      /invalid request target|invalid HTTP version/.test(reasonOf(d.ours)) &&
      'msg' in d.ll &&
      / {2}/.test(d.head.line),
  },
  {
    id: 'request-line-without-version',
    test: (d) =>
      /invalid request target|invalid HTTP version|bare LF/.test(reasonOf(d.ours)) &&
      'msg' in d.ll &&
      !/^[^ ]+ [^ ]+ HTTP\/\d\.\d$/.test(d.head.lfLine),
  },
  { id: 'http-version-not-1x', test: (d) => oursRejects(d, '505 HTTP version not supported') },
  { id: 'transfer-encoding-in-http10', test: (d) => oursRejects(d, 'Transfer-Encoding in HTTP/1.0') },
  { id: 'transfer-coding-not-chunked', test: (d) => oursRejects(d, '501 unsupported transfer coding') },
  {
    id: 'transfer-encoding-empty-or-non-token-element',
    test: (d) =>
      /malformed Transfer-Encoding|both Content-Length and Transfer-Encoding/.test(reasonOf(d.ours)) &&
      'msg' in d.ll &&
      tokens(d.head, 'transfer-encoding').some((t) => !TOKEN_RE.test(t)),
  },
  {
    id: 'transfer-encoding-parameters',
    test: (d) =>
      oursRejects(d, 'malformed Transfer-Encoding') && rawValueHas(d.head, 'transfer-encoding', /;/),
  },
  { id: 'connection-not-tokens', test: (d) => oursRejects(d, 'invalid Connection') },
  {
    id: 'unknown-method',
    test: (d) => llRejects(d, 'HPE_INVALID_METHOD') && !LLHTTP_METHODS.has(msgOf(d.ours)!.method),
  },
  { id: 'pri-method', test: (d) => msgOf(d.ours)?.method === 'PRI' && !('msg' in d.ll) },
  { id: 'request-target-syntax', test: (d) => llRejects(d, 'HPE_INVALID_URL') },
  {
    id: 'repeated-content-length',
    test: (d) =>
      llRejects(d, 'HPE_UNEXPECTED_CONTENT_LENGTH', 'HPE_INVALID_CONTENT_LENGTH') &&
      tokens(d.head, 'content-length').length > 1,
  },
  {
    id: 'content-length-over-2^53',
    test: (d) =>
      oursRejects(d, 'invalid Content-Length') &&
      values(d.head, 'content-length').some((v) => /\d{16}/.test(v)),
  },
  {
    id: 'connection-close-wins',
    test: (d) => differOnlyIn(d, 'keepAlive') && closeWins(d.head),
  },
  {
    id: 'framing-value-trailing-htab',
    test: (d) =>
      (llRejects(d, 'HPE_INVALID_CONTENT_LENGTH') &&
        rawValueHas(d.head, 'content-length', /^[ \t]*\d+\t[ \t]*$/)) ||
      (llRejects(d, 'HPE_INVALID_TRANSFER_ENCODING') &&
        rawValueHas(d.head, 'transfer-encoding', /\t[ \t]*$/)),
  },
  {
    // llhttp refuses Content-Length / Transfer-Encoding as trailer fields; we pass trailers on.
    id: 'framing-field-in-trailers',
    test: (d) =>
      llRejects(
        d,
        'HPE_INVALID_CONTENT_LENGTH',
        'HPE_INVALID_TRANSFER_ENCODING',
        'HPE_UNEXPECTED_CONTENT_LENGTH',
      ) && /(^|\r\n)0[^\r\n]*\r\n([^\r\n]+\r\n)*(content-length|transfer-encoding):/i.test(d.head.body),
  },
  {
    id: 'connection-token-htab',
    test: (d) =>
      differOnlyIn(d, 'keepAlive', 'upgrade') &&
      d.head.fields.some(([n, v]) => n.toLowerCase() === 'connection' && /\t/.test(v)),
  },
  {
    id: 'chunk-extension-empty-name-or-value',
    test: (d) => oursRejects(d, 'invalid chunk extension') && /;[ \t]*[=;]|=[ \t]*[;\r]/.test(d.head.body),
  },
  {
    // RFC 9112 allows BWS around ';' and '=' and SP/HTAB/quoted-pairs in quoted values.
    id: 'chunk-extension-bws-or-quoted-space',
    test: (d) =>
      llRejects(d, 'HPE_INVALID_CHUNK_SIZE', 'HPE_STRICT') &&
      /[ \t]+;|;[ \t]+|[ \t]+=|=[ \t]+|="[^"\r\n]*[ \t\\][^\r\n]*"/.test(d.head.body),
  },
];

function sideAt(o: Outcome, i: number): Side {
  const m = o.messages[i];
  return m !== undefined ? { msg: m } : { end: o.end, reason: o.reason };
}

const rejected = (e: End) => e === 'partial' || e === 'error';

export type Verdict = { agree: true } | { agree: false; index: number; known: string | null };

/**
 * Compares the two outcomes. Rejection and running out of input at the same request count as
 * agreement: llhttp rejects at the first bad byte, we once the head is complete, and at EOF a
 * partial request is refused either way. Otherwise returns the first divergent request and the
 * documented class that explains it, if any.
 */
export function compareOutcomes(
  buf: Buffer,
  ours: Outcome & { ends: number[] },
  ll: Outcome & { completed: number[] },
): Verdict {
  const i = firstDifference(ours, ll);
  // llhttp was fed up to each of our message ends: it must have completed exactly that many.
  const agreed = i < 0 ? ours.messages.length : i;
  for (let k = 0; k < agreed && k < ll.completed.length; k++) {
    if (ll.completed[k] !== k + 1) return { agree: false, index: k, known: null };
  }
  if (i < 0) return { agree: true };
  if (i === ours.messages.length && i === ll.messages.length && rejected(ours.end) && rejected(ll.end))
    return { agree: true };
  const start = i === 0 ? 0 : ours.ends[i - 1];
  const d: Divergence = {
    head: roughHead(buf.subarray(start).toString('latin1')),
    ours: sideAt(ours, i),
    ll: sideAt(ll, i),
  };
  const known = KNOWN_CLASSES.find((c) => c.test(d));
  return { agree: false, index: i, known: known?.id ?? null };
}
