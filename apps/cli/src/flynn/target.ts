// Where the `flynn` commands send their requests: the cluster as seen from inside (DISCOVERD and
// CLUSTER_KEY, every address reachable) or, from ~/.flynnrc, through the controller gateway at
// https://controller.<domain> (cluster-config.ts builds that one). Commands never build URLs from
// an instance address themselves: they ask the target, so both ways work for every command.

export interface ClusterTarget {
  /** discoverd base URLs (`http://ip:1111`, or the gateway's discoverd prefix). */
  discoverd: string[];
  clusterKey?: string;
  /** CLUSTER_DOMAIN when known (the gateway's cluster; else read from `cluster/config`). */
  domain?: string;
  /** True when the requests go through the controller gateway (no direct addresses). */
  remote: boolean;
  /** The base URL of a host's API, given its id and registered `ip:port`. */
  hostUrl(host: { id: string; addr: string }): string;
  /** The base URL of one instance of a service (`router-api`, `logaggregator-api`, …). */
  serviceUrl(service: string, addr: string): string;
}

/** Inside the cluster: every address as registered, over plain HTTP. */
export function directTarget(discoverd: string[], clusterKey?: string): ClusterTarget {
  return {
    discoverd,
    clusterKey,
    remote: false,
    hostUrl: (h) => `http://${h.addr}`,
    serviceUrl: (_service, addr) => `http://${addr}`,
  };
}
