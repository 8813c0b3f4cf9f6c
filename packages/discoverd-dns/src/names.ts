// Classifies a question name (spec §1.10). Matching is case-insensitive: the name is lower-cased
// first. Only the labels left of the zone are looked at:
//
//   <service>.discoverd.                 all instances
//   _<service>._<proto>.discoverd.       RFC 2782 form, instances filtered by proto
//   leader.<service>.discoverd.          the service leader
//   <id>.<service>._i.discoverd.         one instance (the SRV target form)
//   anything else in the zone            NXDOMAIN

export const DEFAULT_ZONE = 'discoverd.';

export type NameQuery =
  /** Not in the zone: goes to the recursors. */
  | { kind: 'outside' }
  /** The zone apex itself. */
  | { kind: 'apex' }
  | { kind: 'service'; service: string; proto?: string }
  | { kind: 'leader'; service: string }
  | { kind: 'instance'; service: string; id: string }
  /** In the zone but none of the forms above: NXDOMAIN. */
  | { kind: 'invalid' };

/** Lower-cased, without the trailing dot ("discoverd."  -> "discoverd"). */
export function normalizeZone(zone: string): string {
  return zone.toLowerCase().replace(/^\.+|\.+$/g, '');
}

/** The fully qualified form used in records: "discoverd" -> "discoverd.". */
export function fqdn(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

/**
 * @param qname the question name as decoded (with or without the trailing dot)
 * @param zone the zone without trailing dot, lower-case (see normalizeZone)
 */
export function parseQuestionName(qname: string, zone: string = normalizeZone(DEFAULT_ZONE)): NameQuery {
  const name = qname.toLowerCase().replace(/\.$/, '');
  if (name === zone) return { kind: 'apex' };
  if (!name.endsWith(`.${zone}`)) return { kind: 'outside' };
  const labels = name.slice(0, name.length - zone.length - 1).split('.');
  if (labels.length === 1) return { kind: 'service', service: labels[0] };
  if (labels.length === 2 && labels[0].startsWith('_') && labels[1].startsWith('_')) {
    return { kind: 'service', service: labels[0].slice(1), proto: labels[1].slice(1) };
  }
  if (labels.length === 3 && labels[2] === '_i')
    return { kind: 'instance', service: labels[1], id: labels[0] };
  if (labels.length === 2 && labels[0] === 'leader') return { kind: 'leader', service: labels[1] };
  return { kind: 'invalid' };
}

/** `<id>.<service>._i.<zone>.`: the SRV target of an instance. */
export function instanceName(id: string, service: string, zone: string): string {
  return `${id}.${service}._i.${zone}.`;
}
