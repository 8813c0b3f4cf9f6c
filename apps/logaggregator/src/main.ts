// bin/logaggregator: flags (Go syntax), then a LogAggregator that loads a peer's buffer, registers
// in discoverd and serves until SIGTERM/SIGINT.

import { DiscoverdClient } from '@flynn-edge/discoverd-client';
import {
  createLogger,
  defineFlags,
  installSignalHandlers,
  onShutdown,
  parseFlagsOrExit,
  runMain,
} from '@flynn-edge/service-kit';
import { DEFAULT_BUFFER } from './aggregator.js';
import { DEFAULT_SERVICE_NAME, LogAggregator } from './server.js';

export const flagSpec = defineFlags({
  'syslog-addr': {
    type: 'string',
    default: ':1514',
    env: 'PORT_1',
    usage: 'syslog (RFC 6587 over TCP) listen `addr`; a bare port means every interface',
  },
  'api-addr': { type: 'string', default: ':1114', env: 'PORT_0', usage: 'HTTP API listen `addr`' },
  'service-name': {
    type: 'string',
    default: DEFAULT_SERVICE_NAME,
    env: 'SERVICE_NAME',
    usage: 'discoverd service of the syslog address (the API registers as <name>-api)',
  },
  buffer: { type: 'int', default: DEFAULT_BUFFER, usage: 'messages kept per app' },
  discoverd: {
    type: 'string',
    env: 'DISCOVERD',
    usage: 'discoverd `servers` (comma-separated; default 127.0.0.1:1111); "none" runs without discoverd',
  },
  'log-level': { type: 'string', usage: 'log `level` (default $LOG_LEVEL or info)' },
});

async function main(): Promise<void> {
  const { flags } = parseFlagsOrExit(flagSpec, process.argv.slice(2), process.env, { prog: 'logaggregator' });
  if (flags.buffer < 1) {
    process.stderr.write('logaggregator: -buffer must be at least 1\n');
    process.exit(2);
  }
  const logger = createLogger({ component: 'logaggregator', level: flags.logLevel });
  const standalone = flags.discoverd === 'none';
  const discoverd = standalone
    ? undefined
    : new DiscoverdClient(flags.discoverd ? { servers: flags.discoverd.split(',').filter(Boolean) } : {});
  const server = new LogAggregator({
    syslogAddr: flags.syslogAddr,
    apiAddr: flags.apiAddr,
    serviceName: flags.serviceName,
    capacity: flags.buffer,
    discoverd,
    logger,
    version: process.env.FLYNN_VERSION,
  });
  await server.start();
  onShutdown(
    async () => {
      await server.close();
      await discoverd?.close();
    },
    { name: 'logaggregator' },
  );
  installSignalHandlers({ logger });
}

runMain(main);
