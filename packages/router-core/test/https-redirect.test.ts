import { describe, expect, it } from 'vitest';
import { routeToJSON, validateRoute, validateUpdate } from '../src/index.js';

const opts = { now: new Date('2024-05-06T07:08:09Z'), newId: () => 'id1' };

describe('https_redirect (beyond Flynn)', () => {
  it('defaults to false and is omitted from the JSON', () => {
    const r = validateRoute({ type: 'http', service: 'web', domain: 'a.example' }, [], opts);
    expect(r.route?.type === 'http' && r.route.https_redirect).toBeFalsy();
    expect(routeToJSON(r.route!)).not.toHaveProperty('https_redirect');
  });

  it('is stored and emitted when true', () => {
    const r = validateRoute(
      { type: 'http', service: 'web', domain: 'a.example', https_redirect: true },
      [],
      opts,
    );
    expect(r.route).toMatchObject({ https_redirect: true });
    expect(routeToJSON(r.route!).https_redirect).toBe(true);
  });

  it('must be a boolean', () => {
    const r = validateRoute(
      { type: 'http', service: 'web', domain: 'a.example', https_redirect: 'yes' },
      [],
      opts,
    );
    expect(r.error).toMatchObject({
      code: 'validation_error',
      message: 'Invalid route',
      field: 'https_redirect',
    });
  });

  it('is refused on a TCP route', () => {
    const r = validateRoute({ type: 'tcp', service: 'db', port: 3001, https_redirect: true }, [], opts);
    expect(r.error).toMatchObject({ code: 'validation_error', field: 'https_redirect' });
    const off = validateRoute({ type: 'tcp', service: 'db', port: 3001, https_redirect: false }, [], opts);
    expect(off.error).toBeUndefined();
  });

  it('can be switched by an update', () => {
    const cur = validateRoute({ type: 'http', service: 'web', domain: 'a.example' }, [], opts).route!;
    const up = validateUpdate({ service: 'web', https_redirect: true }, cur, [cur], opts);
    expect(up.route).toMatchObject({ https_redirect: true, id: 'id1' });
  });
});
