/**
 * What a benchmark must undo (a daemon, its containers, a temp dir, a Swarm), undone in reverse order when the
 * benchmark ends: normally, on an error, or on Ctrl-C / SIGTERM. A benchmark that leaves a swarm active or
 * containers running would skew every run after it, and the tests too.
 */

type Undo = () => Promise<void> | void;

const stack: { what: string; undo: Undo }[] = [];
let unwinding: Promise<void> | null = null;

/**
 * Registers `undo` and returns a function that runs it now (once) and forgets it, for a benchmark that cleans up
 * as it goes; whatever is still registered at exit is undone then.
 */
export function defer(what: string, undo: Undo): () => Promise<void> {
  const entry = { what, undo };
  stack.push(entry);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    const index = stack.indexOf(entry);
    if (index >= 0) stack.splice(index, 1);
    await undo();
  };
}

/** Runs every registered undo, newest first; one that fails is reported and the others still run. */
export function unwind(): Promise<void> {
  unwinding ??= (async () => {
    while (stack.length > 0) {
      const { what, undo } = stack.pop()!;
      try {
        await undo();
      } catch (err) {
        console.error(`bench: cleanup of ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  })();
  return unwinding;
}

/**
 * Runs a benchmark's `main` with cleanup on every way out. A signal (the terminal sends SIGINT to the whole
 * process group, so the daemons and docker CLIs we started get it too) unwinds, then exits 130/143; a second
 * signal while unwinding is ignored so the cleanup finishes.
 */
export function runBench(name: string, main: () => Promise<void>): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      if (unwinding) return;
      console.error(`\nbench ${name}: ${signal}, cleaning up...`);
      void unwind().then(() => process.exit(code));
    });
  }
  main()
    .then(unwind, async (err: unknown) => {
      console.error(`bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await unwind();
      process.exitCode = 1;
    });
}
