// Runs a long-lived demo: Ctrl-C or SIGTERM stops it through `cleanup` (which stops the child
// processes it started), and a failure prints where to look before cleaning up.

export function runDemo(main: () => Promise<void>, cleanup: () => Promise<void>, logsDir: string): void {
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await cleanup();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  main().catch(async (err) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\nlogs are in ${logsDir}\n`);
    await stop(1);
  });
}
