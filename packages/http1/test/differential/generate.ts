import { createRng, type Rng } from '@flynn-edge/raft/rng';

/**
 * Request streams for the differential test: a corpus of valid requests, each mutated at the
 * token level (the shapes request smuggling is made of) and sometimes at the byte level, and
 * sometimes pipelined. Everything is a latin1 string until the end, so any byte can appear.
 */

interface Field {
  name: string;
  sep: string; // ':' plus whatever precedes it
  ows: string;
  value: string;
  eol: string;
}

interface Chunk {
  size: string;
  ext: string;
  eol: string;
  data: string;
  after: string;
}

interface Req {
  lead: string;
  method: string;
  sp1: string;
  target: string;
  sp2: string;
  version: string;
  eol: string;
  headers: Field[];
  headEnd: string;
  body: string;
  chunks: Chunk[] | null;
  last: Chunk;
  trailers: Field[];
  final: string;
}

const f = (name: string, value: string): Field => ({ name, sep: ':', ows: ' ', value, eol: '\r\n' });

function pick<T>(r: Rng, xs: readonly T[]): T {
  return xs[Math.floor(r.next() * xs.length)];
}

function req(method: string, target: string, headers: Field[], body = '', version = 'HTTP/1.1'): Req {
  return {
    lead: '',
    method,
    sp1: ' ',
    target,
    sp2: ' ',
    version,
    eol: '\r\n',
    headers,
    headEnd: '\r\n',
    body,
    chunks: null,
    last: { size: '0', ext: '', eol: '\r\n', data: '', after: '' },
    trailers: [],
    final: '\r\n',
  };
}

const WORDS = ['hello', 'x', '0123456789', 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', '\r\n', 'data;0\r\n'];

function text(r: Rng, n: number): string {
  let s = '';
  while (s.length < n) s += pick(r, WORDS);
  return s.slice(0, n);
}

const CORPUS: Array<(r: Rng) => Req> = [
  () => req('GET', '/', [f('Host', 'a')]),
  (r) =>
    req('GET', pick(r, ['/index.html?x=1&y=%20', '/a/b;c', '/~u/', '/?q=é']), [
      f('Host', 'example.com'),
      f('User-Agent', 'fuzz/1.0'),
      f('Accept', '*/*'),
      f('X-Forwarded-For', '10.0.0.1'),
    ]),
  (r) => {
    const body = text(r, r.int(24));
    return req('POST', '/submit', [f('Host', 'a'), f('Content-Length', String(body.length))], body);
  },
  (r) => {
    const q = req('POST', '/up', [f('Host', 'a'), f('Transfer-Encoding', 'chunked')]);
    q.chunks = [];
    for (let n = r.int(3) + 1; n > 0; n--) {
      const data = text(r, 1 + r.int(20));
      const ext = pick(r, ['', '', ';a=b', ';name="q v"', ';x']);
      q.chunks.push({ size: data.length.toString(16), ext, eol: '\r\n', data, after: '\r\n' });
    }
    if (r.next() < 0.4) q.trailers.push(f('X-Checksum', 'abc'));
    if (r.next() < 0.2) q.last.ext = ';done';
    return q;
  },
  () =>
    req('GET', '/chat', [
      f('Host', 'a'),
      f('Connection', 'Upgrade'),
      f('Upgrade', 'websocket'),
      f('Sec-WebSocket-Version', '13'),
    ]),
  () => req('GET', 'http://example.com/a?b', [f('Host', 'example.com')]),
  () => req('CONNECT', 'example.com:443', [f('Host', 'example.com:443')]),
  () => req('OPTIONS', '*', [f('Host', 'a')]),
  (r) => req('GET', '/', r.next() < 0.5 ? [f('Connection', 'keep-alive')] : [], '', 'HTTP/1.0'),
  () => req('POST', '/e', [f('Host', 'a'), f('Expect', '100-continue'), f('Content-Length', '3')], 'abc'),
  (r) => req(pick(r, ['HEAD', 'DELETE', 'PUT', 'PATCH']), '/r', [f('Host', 'a'), f('Content-Length', '0')]),
];

const CL_VALUES = [
  '0',
  '5',
  '05',
  '+5',
  '-1',
  '0x5',
  ' 5',
  '5 ',
  '5,5',
  '5, 5',
  '5, 6',
  '',
  '1e3',
  '5 5',
  '99999999999999999999',
  '9007199254740992',
  '\t3',
];
const TE_VALUES = [
  'chunked',
  'Chunked',
  'CHUNKED',
  'xchunked',
  'chunked, identity',
  'identity, chunked',
  'gzip, chunked',
  'chunked, chunked',
  ' chunked',
  'chunked ',
  'chunked;q=1',
  '\tchunked',
  '',
  'chunk',
  'chunked,',
  ',chunked',
  'identity',
  'chunked\x0b',
];
const TE_NAMES = [
  'Transfer-Encoding',
  'transfer-encoding',
  'TRANSFER-ENCODING',
  'Transfer-Encoding ',
  'Transfer-Encoding\t',
  ' Transfer-Encoding',
  'Transfer_Encoding',
  'Transfer-Encodin',
];
const VERSIONS = [
  'HTTP/1.0',
  'HTTP/1.1',
  'HTTP/1.2',
  'HTTP/2.0',
  'HTTP/0.9',
  'http/1.1',
  'HTTP/1.10',
  'HTTP/1',
  'HTTP/11',
  'HTTP/1.1 ',
  'HTTP/3.0',
  'HTTP /1.1',
];
const CONNECTION = [
  'close',
  'keep-alive',
  'Keep-Alive',
  'upgrade',
  'close, keep-alive',
  'keep-alive, close',
  'foo bar',
  ',',
  'Upgrade, HTTP2-Settings',
  'CLOSE',
  'close,',
];
const METHODS = [
  'get',
  'FOO',
  'GE T',
  'G\x00T',
  'GET\t',
  '',
  'M-SEARCH',
  'PURGE',
  'PROPFIND',
  'QUERY',
  'PRI',
  'CONNECT',
  'HEAD',
  'DELETE',
  'SOURCE',
  'LINK',
  'GET/',
];
const TARGETS = [
  '/a b',
  '/a\tb',
  '/\x7f',
  '/\x80\xff',
  '/#frag',
  '*',
  'a:1',
  'http://x/y',
  'https://u@h:1/p',
  '',
  '//x',
  '/%zz',
  '/\\',
  '/?',
  'x',
  '/\x00',
  'http://[::1]:8/',
];
const NAME_BYTES = '()<>@,;\\"/[]?={} \t\x01\x7f\xe9:';
const VALUE_BYTES = ['\x00', '\x7f', '\x80', '\r', '\n', '\x01', '\t', '\x1f', '"', '\xff'];
const HOSTS = ['', 'a b', 'a/b', 'a@b', 'exa_mple.com', '[::1]:80', 'a:1:2', 'é', 'a,b', 'example.com:'];
const EOLS = ['\n', '\r', '\r\r\n', '\n\r', ' \r\n', '\r\n\r\n'];
const LEADS = ['\r\n', '\r\n\r\n', '\r\n\r\n\r\n', '\n', '\r', ' '];
const SIZES = [
  '0005',
  '+5',
  '-5',
  '0x5',
  ' 5',
  '5 ',
  '5\t',
  'ffffffffffffffffff',
  'fffffffffffff',
  '20000000000001',
  'FFFFFFFFFFFFFFFF',
  '11111111111111111',
  'g',
  '',
  '5\x00',
];
const EXTS = [
  ';a=b',
  ';a="q;s"',
  ' ;a',
  '; a',
  ';a b',
  ';\x01',
  ';a=',
  ';=b',
  ';a="x',
  ';',
  ';a=b;c',
  '\t;x',
  ';a="\\"\r"',
  ';a=\x80',
];
const TRAILERS: Field[] = [
  f('Expires', 'never'),
  { ...f('X-Fold', 'a'), eol: '\r\n b\r\n' },
  { ...f('X-Sp', 'a'), sep: ' :' },
  f('Bad Name', 'v'),
  f('Content-Length', '5'),
  f('', 'v'),
  f('X-Ctl', 'a\x01b'),
];

function findHeader(q: Req, lower: string): Field | undefined {
  return q.headers.find((h) => h.name.toLowerCase() === lower);
}

function setHeader(r: Rng, q: Req, name: string, value: string): void {
  const h = findHeader(q, name.toLowerCase());
  if (h !== undefined && r.next() < 0.7) h.value = value;
  else q.headers.splice(r.int(q.headers.length + 1), 0, f(name, value));
}

function insertAt(r: Rng, s: string, ins: string): string {
  const i = r.int(s.length + 1);
  return s.slice(0, i) + ins + s.slice(i);
}

function chunked(q: Req): Chunk[] {
  if (q.chunks === null) {
    q.chunks =
      q.body === ''
        ? []
        : [{ size: q.body.length.toString(16), ext: '', eol: '\r\n', data: q.body, after: '\r\n' }];
    q.body = '';
  }
  return q.chunks;
}

/** Long values that put a head right around llhttp's 16 KiB and our 8 KiB / 64 KiB limits. */
function nearLimit(r: Rng, q: Req): void {
  const d = r.int(7) - 3;
  switch (r.int(3)) {
    case 0: // request line of 8192 + d bytes
      q.target = `/${'a'.repeat(Math.max(0, 8192 + d - q.method.length - q.version.length - 3))}`;
      break;
    case 1: {
      // llhttp counts target, names and values against 16384
      const used = q.target.length + q.headers.reduce((n, h) => n + h.name.length + h.value.length, 0);
      q.headers.push(f('X-Pad', 'p'.repeat(Math.max(0, 16384 + d - used - 5))));
      break;
    }
    default: {
      // our header block (field lines and the final CRLF) of 65536 + d bytes
      const used = q.headers.reduce((n, h) => n + h.name.length + 1 + h.ows.length + h.value.length + 2, 0);
      const pad = 65536 + d - used - 2 - 'X-Big: \r\n'.length;
      q.headers.push(f('X-Big', 'b'.repeat(Math.max(0, pad))));
    }
  }
}

const MUTATIONS: Array<(r: Rng, q: Req) => void> = [
  (r, q) =>
    q.headers.push(
      f(
        'Content-Length',
        r.next() < 0.5 ? (findHeader(q, 'content-length')?.value ?? '0') : pick(r, CL_VALUES),
      ),
    ),
  (r, q) => setHeader(r, q, 'Content-Length', pick(r, CL_VALUES)),
  (r, q) => {
    setHeader(r, q, pick(r, TE_NAMES), pick(r, TE_VALUES));
    if (r.next() < 0.7) chunked(q);
  },
  (r, q) => {
    const h = findHeader(q, 'transfer-encoding') ?? findHeader(q, 'content-length');
    if (h !== undefined)
      h.name = pick(r, TE_NAMES.concat(['Content-Length ', 'content-length', 'Content-Length\t']));
  },
  (r, q) => {
    // obs-fold, on a framing header or any
    const h =
      r.next() < 0.5 ? (findHeader(q, 'transfer-encoding') ?? pick(r, q.headers)) : pick(r, q.headers);
    if (h !== undefined)
      h.value = r.next() < 0.5 ? `\r\n ${h.value}` : `${h.value}\r\n\t${pick(r, ['x', 'chunked', ''])}`;
  },
  (r, q) => {
    if (q.chunks !== null || r.next() < 0.5) q.headers.push(f('Content-Length', String(q.body.length)));
    else q.headers.push(f('Transfer-Encoding', 'chunked'));
  },
  (r, q) => {
    q.version = pick(r, VERSIONS);
  },
  (r, q) => setHeader(r, q, 'Connection', pick(r, CONNECTION)),
  (r, q) => {
    q.method = pick(r, METHODS);
  },
  (r, q) => {
    q.target =
      r.next() < 0.5
        ? pick(r, TARGETS)
        : insertAt(r, q.target, pick(r, [' ', '\t', '\x7f', '\x80', '#', '\x00', '\r']));
  },
  (r, q) => {
    if (r.next() < 0.5) q.sp1 = pick(r, ['  ', '\t', '', ' \t']);
    else q.sp2 = pick(r, ['  ', '\t', '', ' \t']);
  },
  (r, q) => {
    const h = pick(r, q.headers);
    if (h !== undefined) h.name = r.next() < 0.15 ? '' : insertAt(r, h.name, pick(r, [...NAME_BYTES]));
  },
  (r, q) => {
    const h = pick(r, q.headers);
    if (h !== undefined) h.value = insertAt(r, h.value, pick(r, VALUE_BYTES));
  },
  (r, q) => {
    const k = r.int(3);
    if (k === 0) q.headers = q.headers.filter((h) => h.name.toLowerCase() !== 'host');
    else if (k === 1) q.headers.push(f(pick(r, ['Host', 'host']), pick(r, ['a', 'b', ...HOSTS])));
    else setHeader(r, q, 'Host', pick(r, HOSTS));
  },
  (r, q) => {
    const eol = pick(r, EOLS);
    const k = r.int(4);
    if (k === 0) q.eol = eol;
    else if (k === 1) q.headEnd = eol;
    else {
      const h = pick(r, q.headers);
      if (h !== undefined) h.eol = eol;
    }
  },
  (r, q) => {
    q.lead = pick(r, LEADS);
  },
  (r, q) => {
    const total = 98 + r.int(5);
    for (let i = q.headers.length; i < total; i++) q.headers.push(f(`X-H${i}`, String(i)));
  },
  nearLimit,
  (r, q) => {
    const c = pick(r, chunked(q)) ?? q.last;
    if (r.next() < 0.8) c.size = pick(r, SIZES);
    else c.data += pick(r, ['x', '\r\n']);
  },
  (r, q) => {
    const c = r.next() < 0.3 ? q.last : (pick(r, chunked(q)) ?? q.last);
    c.ext = pick(r, EXTS);
  },
  (r, q) => {
    const c = r.next() < 0.3 ? q.last : (pick(r, chunked(q)) ?? q.last);
    if (r.next() < 0.5) c.eol = pick(r, EOLS);
    else c.after = pick(r, ['', '\n', '\r', 'X\r\n', '\r\r\n']);
  },
  (r, q) => {
    chunked(q);
    q.trailers.push(pick(r, TRAILERS));
  },
  (r, q) => {
    chunked(q);
    if (r.next() < 0.5) q.final = pick(r, ['', '\n', '\r', ' \r\n']);
    else q.last.size = pick(r, ['000', '0 ', '00000000000000000000', '0\t']);
  },
  (r, q) => {
    q.body = r.next() < 0.5 ? q.body.slice(0, -1) : `${q.body}${pick(r, WORDS)}`;
  },
];

function serialize(q: Req): string {
  let s = `${q.lead}${q.method}${q.sp1}${q.target}${q.sp2}${q.version}${q.eol}`;
  for (const h of q.headers) s += `${h.name}${h.sep}${h.ows}${h.value}${h.eol}`;
  s += q.headEnd;
  if (q.chunks === null) return s + q.body;
  for (const c of q.chunks) s += `${c.size}${c.ext}${c.eol}${c.data}${c.after}`;
  s += `${q.last.size}${q.last.ext}${q.last.eol}`;
  for (const t of q.trailers) s += `${t.name}${t.sep}${t.ows}${t.value}${t.eol}`;
  return s + q.final;
}

const BYTES = ['\r', '\n', '\r\n', '\x00', ' ', '\t', ':', ',', ';', '\x7f', '\x80', '\xff', '"', '0', 'a'];

function byteMutation(r: Rng, s: string): string {
  const i = r.int(s.length + 1);
  switch (r.int(5)) {
    case 0:
      return s.slice(0, i) + pick(r, BYTES) + s.slice(i);
    case 1:
      return s.slice(0, i) + s.slice(i + 1);
    case 2:
      return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i + 1);
    case 3:
      return s.slice(0, i) + s.slice(i, i + 1 + r.int(16)) + s.slice(i);
    default:
      return s.slice(0, i);
  }
}

function oneRequest(r: Rng): string {
  const q = pick(r, CORPUS)(r);
  const roll = r.next();
  const tokenMutations = roll < 0.12 ? 0 : roll < 0.65 ? 1 : 1 + r.int(3);
  for (let k = 0; k < tokenMutations; k++) pick(r, MUTATIONS)(r, q);
  let s = serialize(q);
  if (r.next() < 0.25) for (let k = 1 + r.int(2); k > 0; k--) s = byteMutation(r, s);
  return s;
}

/** Case `index` of the run with `seed`; each case has its own generator, so it replays alone. */
export function generateCase(seed: number, index: number): Buffer {
  const r = createRng((seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  let s = oneRequest(r);
  if (r.next() < 0.3) for (let k = 1 + r.int(2); k > 0; k--) s += oneRequest(r);
  return Buffer.from(s, 'latin1');
}
