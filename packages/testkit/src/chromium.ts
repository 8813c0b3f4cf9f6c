// Launch options for Debian's Chromium driven by playwright-core (which downloads no browser):
// headless as root needs --no-sandbox, and without the background-networking flags Chromium's
// own connections are refused by this machine's closed network (shared/notes.md).

export interface ChromiumLaunch {
  executablePath: string;
  args: string[];
}

/** `extraArgs`, e.g. `--host-resolver-rules=MAP name 127.0.0.1` to reach a name through a router. */
export function chromiumLaunchOptions(extraArgs: string[] = []): ChromiumLaunch {
  return {
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  };
}
