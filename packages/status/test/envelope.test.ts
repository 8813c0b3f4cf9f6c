import { describe, expect, it } from 'vitest';
import { componentResult, overallHealthy, renderEnvelope, statusCode } from '../src/envelope.js';

describe('the envelope', () => {
  it('is Flynn’s layout byte for byte: data{status,detail,version}, sorted detail, 2 spaces, newline', () => {
    const detail = {
      router: componentResult({ healthy: true }, 0.0042),
      discoverd: componentResult({ healthy: false, reason: 'no Raft leader is known' }, 0.0015),
      'flynn-host': componentResult({ healthy: true, detail: { hosts: 3 } }, 0.002),
    };
    const body = renderEnvelope({ healthy: overallHealthy(detail), detail }, 'v1.2.3');
    expect(body).toBe(`{
  "data": {
    "status": "unhealthy",
    "detail": {
      "discoverd": {
        "status": "unhealthy",
        "reason": "no Raft leader is known",
        "latency_seconds": 0.0015
      },
      "flynn-host": {
        "status": "healthy",
        "latency_seconds": 0.002,
        "detail": {
          "hosts": 3
        }
      },
      "router": {
        "status": "healthy",
        "latency_seconds": 0.0042
      }
    },
    "version": "v1.2.3"
  }
}
`);
  });

  it('omits an empty version', () => {
    expect(renderEnvelope({ healthy: true, detail: {} }, '')).toBe(
      '{\n  "data": {\n    "status": "healthy",\n    "detail": {}\n  }\n}\n',
    );
  });

  it('keeps the status token in the first 512 bytes, however large the detail', () => {
    const detail: Record<string, ReturnType<typeof componentResult>> = {};
    for (let i = 0; i < 200; i++)
      detail[`c${i}`] = componentResult({ healthy: false, reason: 'x'.repeat(500) }, 1);
    for (const healthy of [true, false]) {
      const body = renderEnvelope({ healthy, detail }, 'dev');
      expect(Buffer.from(body).subarray(0, 512).toString()).toContain(
        `"status": "${healthy ? 'healthy' : 'unhealthy'}"`,
      );
      expect(body.indexOf('"status"')).toBeLessThan(40);
    }
  });

  it('escapes <, > and & as Go does', () => {
    const detail = { a: componentResult({ healthy: false, reason: '<b>&' }, 0) };
    expect(renderEnvelope({ healthy: false, detail }, 'dev')).toContain('"reason": "\\u003cb\\u003e\\u0026"');
  });

  it('optional components are reported but never make the whole unhealthy', () => {
    const detail = {
      a: componentResult({ healthy: true }, 0),
      b: componentResult({ healthy: false, reason: 'down' }, 0, true),
    };
    expect(detail.b).toEqual({ status: 'unhealthy', reason: 'down', latency_seconds: 0, optional: true });
    expect(overallHealthy(detail)).toBe(true);
    expect(statusCode({ healthy: overallHealthy(detail) })).toBe(200);
    const required = { ...detail, c: componentResult({ healthy: false }, 0) };
    expect(required.c.reason).toBe('unhealthy');
    expect(statusCode({ healthy: overallHealthy(required) })).toBe(500);
  });
});
