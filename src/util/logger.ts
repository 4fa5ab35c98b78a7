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

/**
 * Says whether a line about `key` should be logged now: the first, then at most one per `intervalMs`, telling how
 * many were left out meanwhile. A flood of identical refusals (a client over a rate limit) costs a line per interval,
 * not a line per refusal, while each distinct cause (another address, another reason) is still said at once.
 */
export class LogThrottle {
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { at: number; skipped: number }>();

  constructor(intervalMs = 10_000, now: () => number = () => performance.now()) {
    this.#intervalMs = intervalMs;
    this.#now = now;
  }

  /** null: stay quiet; otherwise how many lines about `key` were skipped since the last one logged. */
  admit(key: string): number | null {
    const now = this.#now();
    const entry = this.#keys.get(key);
    if (entry && now - entry.at < this.#intervalMs) {
      entry.skipped++;
      return null;
    }
    const skipped = entry?.skipped ?? 0;
    this.#keys.set(key, { at: now, skipped: 0 });
    // Bounded: keys older than the interval are forgotten as new ones arrive.
    if (this.#keys.size > 1024) for (const [k, e] of this.#keys) if (now - e.at >= this.#intervalMs) this.#keys.delete(k);
    return skipped;
  }
}
