import type { StepInfo } from './state.js';

// Flynn's two loggers: text on stderr with Go's log.Lmicroseconds prefix (`15:04:05.123456 `),
// or one JSON object per event on stdout. Step data prints through its toString (Flynn's
// Stringer); data with no printable form prints nothing on done.

export type Logger = (si: StepInfo) => void;

/** `15:04:05.123456` in local time (Go's log package). */
export function goClock(d = new Date(), micros = 0): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000 + micros, 6)}`;
}

function printable(data: unknown): string | undefined {
  if (data === undefined || data === null) return undefined;
  if (typeof data === 'string') return data;
  const s = String(data);
  return s === '[object Object]' ? undefined : s;
}

export function textLogger(write: (s: string) => void): Logger {
  const line = (s: string) => write(`${goClock()} ${s}\n`);
  return (si) => {
    switch (si.state) {
      case 'start':
        line(`${si.action} ${si.id}`);
        break;
      case 'info':
        line(`${si.action} ${printable(si.data) ?? ''}`);
        break;
      case 'done': {
        const s = printable(si.data);
        if (s !== undefined) line(`${si.action} ${si.id} ${s}`);
        break;
      }
      case 'error':
        line(`${si.action} ${si.id} error: ${si.error}`);
        break;
    }
  };
}

/** JSON lines; step data goes through its toJSON (the TLS data has no private key there). */
export function jsonLogger(write: (s: string) => void): Logger {
  return (si) => write(`${JSON.stringify(si)}\n`);
}
