import { describe, expect, it } from 'vitest';
import { placeVolumes } from '../src/transfer/place.js';

// One old job's volumes (its /data and /wal) must land on one new host, or the job started there
// would get a new, empty volume for the one that went elsewhere.

describe('placeVolumes', () => {
  const v = (id: string, type: string, host: string, app = 'a1') => ({
    id,
    app_id: app,
    process_type: type,
    host_id: host,
  });

  it("keeps one old job's volumes together and spreads the jobs of a type over the hosts", () => {
    const placed = placeVolumes(
      [
        v('d1', 'db', 'h1'),
        v('w1', 'db', 'h1'),
        v('d2', 'db', 'h2'),
        v('w2', 'db', 'h2'),
        v('x', 'web', 'h1'),
      ],
      ['n1', 'n2', 'n3'],
    ).map((p) => `${p.volume.id}@${p.host}`);
    expect(placed).toEqual(['d1@n1', 'w1@n1', 'd2@n2', 'w2@n2', 'x@n1']);
  });

  it('wraps around when there are more old jobs than hosts', () => {
    const placed = placeVolumes([v('a', 't', 'h1'), v('b', 't', 'h2'), v('c', 't', 'h3')], ['n1', 'n2']);
    expect(placed.map((p) => p.host)).toEqual(['n1', 'n2', 'n1']);
  });
});
