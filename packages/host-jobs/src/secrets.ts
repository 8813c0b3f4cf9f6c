// Which of a job's settings are secrets, and how listings show them: the names stay, the values
// become MASKED. One rule for every place that prints a job (the host API, `flynn-host ps` and
// `inspect`, collect-debug-info, the daemon's notes on a job): a name holding KEY, SECRET, TOKEN,
// PASS (PASSWORD, PASSWD…), CREDENTIAL or PRIVATE, in any case, plus the password part of a URL
// (`postgres://user:pw@db/x`) in any value. Only an explicit ask reveals one (GET
// /host/jobs/:id?reveal=true, `flynn-host inspect --env-value NAME JOB`).

export const MASKED = '<masked>';

const SECRET_NAME = /KEY|SECRET|TOKEN|PASS|CREDENTIAL|PRIVATE/i;
/** `scheme://user:password@` */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s/@]+@/gi;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** A value with any URL password masked. */
export function maskUrlPasswords(value: string): string {
  return value.replace(URL_PASSWORD, `$1${MASKED}@`);
}

/** The same names; secret values masked. */
export function maskEnv(env: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    out[name] = isSecretName(name) ? MASKED : maskUrlPasswords(value);
  }
  return out;
}

/**
 * Command-line arguments with the values of secret-named flags masked: `-cluster-key V`,
 * `--password=V`.
 */
export function maskArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const flag = /^--?([A-Za-z][\w.-]*)(=?)/.exec(a);
    if (flag && isSecretName(flag[1]!)) {
      if (flag[2]) out.push(`${a.slice(0, flag[0].length)}${MASKED}`);
      else {
        out.push(a);
        if (i + 1 < args.length) {
          out.push(MASKED);
          i++;
        }
      }
    } else out.push(maskUrlPasswords(a));
  }
  return out;
}

/** A job (or job spec) as listings show it: env and args masked, everything else as it is. */
export function maskJob<T extends { env?: Record<string, string>; args?: string[] }>(job: T): T {
  return {
    ...job,
    ...(job.env ? { env: maskEnv(job.env) } : {}),
    ...(job.args ? { args: maskArgs(job.args) } : {}),
  };
}
