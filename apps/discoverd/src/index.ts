// The documented Prometheus scrape config (docs/monitoring.md), for tests and tools.
export {
  PROMETHEUS_TARGETS_PATH,
  type PrometheusTargetGroup,
  prometheusScrapeConfig,
  type ScrapeConfigOptions,
} from '@flynn-edge/discoverd-server';
