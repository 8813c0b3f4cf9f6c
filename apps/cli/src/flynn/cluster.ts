import { type Command, Option } from 'commander';
import {
  addCluster,
  checkTlsPin,
  emptyCluster,
  goQuote,
  readConfig,
  removeCluster,
  saveConfig,
  setDefault,
} from '../cluster-config.js';
import { hostPort } from '../discoverd-http.js';
import { CliError, formatTable, println } from '../output.js';
import { registerBackupCommand } from './backup.js';

// `flynn cluster`: the clusters of ~/.flynnrc, as Flynn's cli/cluster.go manages them (list, add,
// remove, default; the same flags, messages on stderr as Flynn's log.Printf). Flynn's `add` also
// configured git and docker for the cluster; there is no git or docker endpoint here, so it
// behaves as Flynn's `--no-git` always did. Our one addition: `--controller-addr IP:PORT`.

/** Flynn's CLI tables: Go's tabwriter with a padding of 2. */
const PADDING = 2;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `-c NAME` / FLYNN_CLUSTER on the program, unless the program already has it. */
function addClusterOption(program: Command): void {
  if (program.options.some((o) => o.long === '--cluster')) return;
  program.addOption(
    new Option('-c, --cluster <name>', 'the cluster of ~/.flynnrc to use (default: its default cluster)').env(
      'FLYNN_CLUSTER',
    ),
  );
}

export function registerClusterCommands(program: Command): void {
  addClusterOption(program);
  const cluster = program
    .command('cluster')
    .description('manage the clusters in ~/.flynnrc (FLYNNRC names another file); with no command, list them')
    .action(() => {
      const config = readConfig();
      const rows = config.clusters.map((c) => {
        const row = [c.Name, c.ControllerURL, c.GitURL || '(none)', c.DockerPushURL || '(none)'];
        if (c.Name === config.default) row.push('(default)');
        return row;
      });
      println(formatTable(['NAME', 'CONTROLLER URL', 'GIT URL', 'DOCKER URL'], rows, PADDING));
    });

  cluster
    .command('add')
    .description(
      'add a cluster: its controller is https://controller.DOMAIN (or DOMAIN itself when it starts with https://)',
    )
    .argument('<cluster-name>')
    .argument('<domain>')
    .argument('<key>')
    .option('-f, --force', 'replace a cluster of the same name or URL')
    .option('-d, --default', 'set as the default cluster')
    .option('-p, --tls-pin <tlspin>', "SHA256 of the cluster's TLS certificate, base64 (Flynn's pin)")
    .option('--git-url <giturl>', 'git URL (recorded only: there is no git endpoint)')
    .option('--no-git', 'skip git configuration (always the case here)')
    .option(
      '--controller-addr <ip:port>',
      'connect to this address instead of resolving controller.DOMAIN (a local cluster’s routers listen on 8443); TLS SNI and Host stay controller.DOMAIN',
    )
    .action((name: string, domain: string, key: string, opts) => {
      const entry = emptyCluster(name);
      entry.Key = key;
      entry.ControllerURL = domain.startsWith('https://')
        ? domain.replace(/\/+$/, '')
        : `https://controller.${domain}`;
      if (opts.gitUrl) entry.GitURL = opts.gitUrl;
      if (opts.tlsPin !== undefined) entry.TLSPin = checkTlsPin(opts.tlsPin);
      if (opts.controllerAddr !== undefined) {
        try {
          entry.ControllerAddr = hostPort(opts.controllerAddr, 443);
        } catch (err) {
          throw new CliError(`--controller-addr: ${(err as Error).message}`, 2);
        }
      }
      const config = readConfig();
      addCluster(config, entry, opts.force === true);
      const makeDefault = opts.default === true || config.clusters.length === 1;
      if (makeDefault && !setDefault(config, name)) {
        throw new CliError(`Cluster ${goQuote(name)} does not exist and cannot be set as default.`);
      }
      saveConfig(config);
      log(
        makeDefault
          ? `Cluster ${goQuote(name)} added and set as default.`
          : `Cluster ${goQuote(name)} added.`,
      );
    });

  cluster
    .command('remove')
    .description('remove a cluster from ~/.flynnrc')
    .argument('<cluster-name>')
    .action((name: string) => {
      const config = readConfig();
      if (!removeCluster(config, name)) return;
      let message = `Cluster ${goQuote(name)} removed.`;
      if (config.default === name) {
        // Flynn picks the next cluster as the default; with none left the name stays behind.
        const next = config.clusters[0];
        if (next) {
          setDefault(config, next.Name);
          message = `Cluster ${goQuote(name)} removed and ${goQuote(next.Name)} is now the default cluster.`;
        }
      }
      saveConfig(config);
      log(message);
    });

  cluster
    .command('default')
    .description('print the default cluster, or with a name set it')
    .argument('[cluster-name]')
    .action((name: string | undefined) => {
      const config = readConfig();
      if (name === undefined) {
        const c = config.clusters.find((x) => x.Name === config.default);
        println(formatTable(['NAME', 'URL'], c ? [[c.Name, c.ControllerURL, '(default)']] : [], PADDING));
        return;
      }
      if (!setDefault(config, name)) {
        throw new CliError(`Cluster ${goQuote(name)} does not exist and cannot be set as default.`);
      }
      saveConfig(config);
      log(`${goQuote(name)} is now the default cluster.`);
    });

  registerBackupCommand(cluster);
}

export { resolveTarget } from '../cluster-config.js';
