import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareOutcomes, KNOWN_CLASSES } from './differential/classify.js';
import { generateCase } from './differential/generate.js';
import { LlhttpOracle } from './differential/llhttp.js';
import { runOurs } from './differential/ours.js';
import { describeOutcome, type Outcome } from './differential/outcome.js';
import { RealServer } from './differential/server.js';

/**
 * Differential fuzzing of our request parser against Node's llhttp (issue 11): both must agree on
 * accept versus reject and on the framing of every request in a stream, unless the disagreement
 * is one of the documented classes (differential/classify.ts, docs/compatibility.md).
 *
 *   HTTP1_FUZZ_SEED=n          seed (default below)
 *   HTTP1_FUZZ_CASES=n         cases (default 3000, ~1 s)
 *   HTTP1_FUZZ_CASE=i          replay only case i of the seed
 *   HTTP1_FUZZ_SERVER_CASES=n  cases also sent to a real node:http server (default 300)
 */
const SEED = Number(process.env.HTTP1_FUZZ_SEED ?? 0x11ad);
const CASES = Number(process.env.HTTP1_FUZZ_CASES ?? 3000);
const ONLY = process.env.HTTP1_FUZZ_CASE === undefined ? null : Number(process.env.HTTP1_FUZZ_CASE);
const SERVER_CASES = Number(process.env.HTTP1_FUZZ_SERVER_CASES ?? 300);

const indices = (n: number) => (ONLY !== null ? [ONLY] : Array.from({ length: n }, (_, i) => i));

function report(i: number, buf: Buffer, ours: Outcome, ll: Outcome, note: string): string {
  return [
    `case ${i} (replay: HTTP1_FUZZ_SEED=${SEED} HTTP1_FUZZ_CASE=${i}): ${note}`,
    `  bytes: ${JSON.stringify(buf.toString('latin1'))}`,
    `  ours:   ${describeOutcome(ours)}`,
    `  llhttp: ${describeOutcome(ll)}`,
  ].join('\n');
}

describe('differential: our parser versus llhttp', () => {
  const oracle = new LlhttpOracle();

  it(`agrees on ${ONLY !== null ? `case ${ONLY}` : `${CASES} cases`} of seed ${SEED}, or differs only as documented`, () => {
    const failures: string[] = [];
    const known = new Map<string, number>();
    let agree = 0;
    let pipelined = 0;
    for (const i of indices(CASES)) {
      const buf = generateCase(SEED, i);
      const ours = runOurs(buf);
      const ll = oracle.run(buf, ours.ends);
      const v = compareOutcomes(buf, ours, ll);
      if (v.agree) {
        agree++;
        if (ours.messages.length > 1) pipelined++;
      } else if (v.known !== null) {
        known.set(v.known, (known.get(v.known) ?? 0) + 1);
      } else {
        failures.push(report(i, buf, ours, ll, `undocumented disagreement at request ${v.index}`));
        if (failures.length >= 5) break;
      }
    }
    if (ONLY === null) console.log(`seed ${SEED}: ${agree} agree, documented:`, Object.fromEntries(known));
    expect(failures.join('\n\n')).toBe('');
    if (ONLY === null) {
      // The generator must keep producing mostly valid streams, pipelines included.
      expect(agree).toBeGreaterThan(CASES * 0.6);
      expect(pipelined).toBeGreaterThan(CASES * 0.01);
    }
  });

  // The classic smuggling shapes: both parsers must reject (or frame identically) each of these.
  const H = 'POST / HTTP/1.1\r\nHost: a\r\n';
  const exact: Array<[string, string]> = [
    ['CL and TE', `${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['TE and CL', `${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`],
    ['conflicting CLs', `${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`],
    ['CL list that differs', `${H}Content-Length: 1, 2\r\n\r\nab`],
    ['xchunked', `${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`],
    ['chunked, identity', `${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`],
    ['space before colon', `${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`],
    ['obs-fold', `${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`],
    ['bare LF in a field line', `${H}Content-Length: 1\nX: y\r\n\r\na`],
    ['bare CR in a value', `${H}X: a\rb\r\n\r\n`],
    ['NUL in a value', `${H}X: a\x00b\r\n\r\n`],
    ['signed CL', `${H}Content-Length: +1\r\n\r\na`],
    ['hex chunk size with 0x', `${H}Transfer-Encoding: chunked\r\n\r\n0x1\r\na\r\n0\r\n\r\n`],
    ['chunk size with +', `${H}Transfer-Encoding: chunked\r\n\r\n+1\r\na\r\n0\r\n\r\n`],
    ['missing CRLF after chunk data', `${H}Transfer-Encoding: chunked\r\n\r\n1\r\naX0\r\n\r\n`],
    [
      'pipelined after a chunked body',
      `${H}Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n`,
    ],
    ['leading zeros in chunk size', `${H}Transfer-Encoding: chunked\r\n\r\n0001\r\na\r\n000\r\n\r\n`],
  ];
  for (const [name, text] of exact) {
    it(`agrees exactly on ${name}`, () => {
      const buf = Buffer.from(text, 'latin1');
      const ours = runOurs(buf);
      const ll = oracle.run(buf, ours.ends);
      expect(compareOutcomes(buf, ours, ll), report(-1, buf, ours, ll, name)).toEqual({ agree: true });
    });
  }

  it('flags a framing difference it has no class for (the test can fail)', () => {
    const buf = Buffer.from(`${H}Content-Length: 1\r\n\r\naGET / HTTP/1.1\r\nHost: a\r\n\r\n`, 'latin1');
    const ours = runOurs(buf);
    const ll = oracle.run(buf, ours.ends);
    expect(compareOutcomes(buf, ours, ll)).toEqual({ agree: true });
    const wrongBody = { ...ours, messages: [{ ...ours.messages[0], body: 0 }, ours.messages[1]] };
    expect(compareOutcomes(buf, wrongBody, ll)).toEqual({ agree: false, index: 0, known: null });
    const swallowed = { ...ours, messages: ours.messages.slice(0, 1), ends: ours.ends.slice(0, 1) };
    expect(compareOutcomes(buf, swallowed, ll)).toMatchObject({ agree: false, known: null });
    // A boundary one byte off is caught even when the parsed messages look the same.
    const shifted = { ...ours, ends: [ours.ends[0] - 1, ours.ends[1]] };
    expect(compareOutcomes(buf, shifted, oracle.run(buf, shifted.ends))).toMatchObject({ agree: false });
  });

  it('has unique class ids', () => {
    expect(new Set(KNOWN_CLASSES.map((c) => c.id)).size).toBe(KNOWN_CLASSES.length);
  });
});

/**
 * The in-process model of node:http (llhttp.ts) is ~100x faster than a socket per case; this
 * checks on a sample that a real server parses the same requests and rejects the same streams.
 */
describe('differential: the llhttp model matches a real node:http server', () => {
  const server = new RealServer();
  const oracle = new LlhttpOracle();
  beforeAll(() => server.listen());
  afterAll(() => server.close());

  it(`on ${ONLY !== null ? `case ${ONLY}` : `${SERVER_CASES} cases`}`, async () => {
    const failures: string[] = [];
    for (const i of indices(SERVER_CASES)) {
      const buf = generateCase(SEED, i);
      const model = oracle.run(buf);
      const real = await server.run(buf);
      const strip = (ms: Outcome['messages']) =>
        ms.map(
          (m) =>
            `${m.method} ${JSON.stringify(m.target)} h=${m.headers} body=${m.body}${m.upgrade ? ' upgrade' : ''}`,
        );
      const want = strip(model.messages);
      const modelRejects = model.end === 'error' || model.end === 'partial';
      const realRejects = real.rejected || real.partial;
      // After a rejected request Node may still hand on requests parsed in the same read.
      const got = strip(modelRejects ? real.messages.slice(0, want.length) : real.messages);
      if (JSON.stringify(got) !== JSON.stringify(want) || modelRejects !== realRejects) {
        failures.push(
          `case ${i} (HTTP1_FUZZ_SEED=${SEED} HTTP1_FUZZ_CASE=${i}): ${JSON.stringify(buf.toString('latin1'))}\n` +
            `  model:  ${want.join(' | ')} ${model.end} ${model.reason}\n` +
            `  server: ${strip(real.messages).join(' | ')} rejected=${real.rejected} partial=${real.partial}`,
        );
      }
    }
    expect(failures.join('\n\n')).toBe('');
  });
});
