/** A minimal leveled logger; injected everywhere so tests can capture or silence it. */

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

type Level = keyof Logger;
const ORDER: Level[] = ['debug', 'info', 'warn', 'error'];

/** Logs one line per message to stderr, with time and level, at or above `level`. */
export function consoleLogger(level: Level = 'info', component = 'swarmlet'): Logger {
  const threshold = ORDER.indexOf(level);
  const line = (at: Level) => (message: string) => {
    if (ORDER.indexOf(at) < threshold) return;
    process.stderr.write(`${new Date().toISOString()} ${at.toUpperCase()} ${component}: ${message}\n`);
  };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
