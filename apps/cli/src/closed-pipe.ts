// `flynn-host log … | head -1`: once the reader has gone, the next write fails with EPIPE. Like
// `git log | head`, the command then ends quietly with status 0; a followed stream (-f) ends with
// the process, so nothing is left reading from the host. Both CLIs install this first thing.

export function exitQuietlyOnClosedPipe(prog: string): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      // Any other failure to write output: one line where it can still go, never a stack trace.
      if (stream === process.stdout) process.stderr.write(`${prog}: writing output failed: ${err.message}\n`);
      process.exit(1);
    });
  }
}
