/**
 * A failure the operator caused or must act on: the CLI prints its message as one line and exits
 * with `exitCode` (1 failed, 2 bad usage).
 */
export class AppModelError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'AppModelError';
  }
}
