// Where each record lives in the cluster store (flynn-ops.md §1.2).

export const keys = {
  clusterConfig: 'cluster/config',
  app: (name: string) => `apps/${name}`,
  appsPrefix: 'apps/',
  appId: (id: string) => `app-ids/${id}`,
  release: (appId: string, id: string) => `releases/${appId}/${id}`,
  releasesPrefix: (appId: string) => `releases/${appId}/`,
  artifact: (id: string) => `artifacts/${id}`,
  formation: (appId: string) => `formations/${appId}`,
  deployment: (appId: string) => `deployments/${appId}`,
  volumesPrefix: (appId: string) => `volumes/${appId}/`,
};
