import type { DiscoverdClient } from '@flynn-edge/discoverd-client';
import type { Job, JobManager, LinesEvent } from '@flynn-edge/host-jobs';
import { type AggregatorInstance, LogShipper, LogStore } from '@flynn-edge/logstore';
import type { Logger, Metrics } from '@flynn-edge/service-kit';

// A host's logs: every job line becomes a syslog message in `<log-dir>/<app id>.log` (Flynn's
// format, rotated with one old file kept), and is shipped to every logaggregator in discoverd.

const STREAM_MSGID = { stdout: 'ID1', stderr: 'ID2', init: 'ID3' } as const;

/** The log store's counters, read at scrape time (names per design.md: base units, _total). */
function logMetrics(metrics: Metrics, store: () => LogStore): void {
  const fields = [
    ['flynn_host_log_written_bytes_total', 'Bytes written to per-app log files', 'bytesWritten'],
    ['flynn_host_log_lines_total', 'Log messages written', 'linesWritten'],
    ['flynn_host_log_rotations_total', 'Log file rotations', 'rotations'],
    ['flynn_host_log_dropped_lines_total', 'Log lines dropped (slow disk, write errors)', 'dropped'],
  ] as const;
  for (const [name, help, key] of fields) {
    const c = metrics.counter(name, help, [], {
      collect() {
        // The store counts; the metric mirrors it at each scrape.
        c.reset();
        c.inc(store().stats()[key]);
      },
    });
  }
}

export interface HostLogsOptions {
  dir: string;
  hostId: string;
  maxBytes: number;
  jobs: JobManager;
  client: DiscoverdClient;
  log: Logger;
  metrics: Metrics;
}

/** PROCID of a job's messages: `<type>.<job id>`, or the job id when it has no type. */
export function procIdOf(processType: string | undefined, jobId: string): string {
  return processType ? `${processType}.${jobId}` : jobId;
}

export class HostLogs {
  readonly store: LogStore;
  readonly shipper: LogShipper;

  constructor(private readonly opts: HostLogsOptions) {
    this.store = new LogStore({
      dir: opts.dir,
      hostId: opts.hostId,
      maxBytes: opts.maxBytes,
      ignore: ['flynn-host'],
      onError: (err, appId) => opts.log.warn({ err: err.message, app: appId }, 'log write failed'),
    });
    opts.jobs.on('lines', (ev) => this.write(ev));
    // Per line only a map lookup: jobs.get() copies the whole job.
    opts.jobs.on('state', (job) => this.jobLog.set(job.id, this.jobLogOf(job)));
    logMetrics(opts.metrics, () => this.store);
    this.shipper = new LogShipper({
      store: this.store,
      listAggregators: () => this.aggregators(),
      onError: (err, inst) => opts.log.debug?.({ err: err.message, sink: inst.syslogAddr }, 'log shipping'),
    });
  }

  private readonly jobLog = new Map<string, { appId: string; procId: string }>();

  private jobLogOf(job: Job): { appId: string; procId: string } {
    return { appId: job.app.id, procId: procIdOf(job.processType, job.id) };
  }

  /** A batch of a job's lines: one framed buffer, one queued write (init notes line by line). */
  private write(ev: LinesEvent): void {
    let target = this.jobLog.get(ev.job);
    if (!target) {
      const job = this.opts.jobs.get(ev.job);
      if (!job) return;
      target = this.jobLogOf(job);
      this.jobLog.set(ev.job, target);
    }
    const msgId = STREAM_MSGID[ev.stream];
    try {
      if (ev.stream === 'init') {
        // the daemon's own notes: few, and they may hold a '\n' (write() splits there)
        for (let i = 0; i < ev.starts.length; i++) {
          const msg = ev.data.subarray(ev.starts[i]!, ev.ends[i]!);
          this.store.write(target.appId, { procId: target.procId, msgId, msg });
        }
        return;
      }
      this.store.writeLines(target.appId, target.procId, msgId, ev.data, ev.starts, ev.ends);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, job: ev.job }, 'cannot log a job line');
    }
  }

  /** Aggregators registered in discoverd: the syslog address, the API from meta `api_addr`. */
  private async aggregators(): Promise<AggregatorInstance[]> {
    const insts = await this.opts.client.instances('logaggregator');
    return insts.flatMap((i) =>
      i.meta?.api_addr ? [{ syslogAddr: i.addr, apiUrl: `http://${i.meta.api_addr}` }] : [],
    );
  }

  start(): void {
    this.shipper.start();
  }

  async close(): Promise<void> {
    await this.shipper.stop();
    await this.store.close();
  }
}
