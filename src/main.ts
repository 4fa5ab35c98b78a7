/**
 * The swarmlet executable's entry: the CLI (a client of the swarmlet API) and, as `swarmlet daemon`, the node.
 *
 * The bundle is CommonJS (a Node single-executable application starts from one), so there is no top-level await:
 * main() is async and sets process.exitCode, which also lets pending output drain before the process ends.
 * Failures print one line, `Error: message`, as the docker CLI does; stacks are for SWARMLET_DEBUG=1, because
 * expected failures (a bad flag, an API error, no daemon) are messages for the user, not bugs.
 */

import { SwarmletError, describeError } from './errors.ts';
import { route } from './cli/router.ts';

function debugging(): boolean {
  const flag = process.env.SWARMLET_DEBUG;
  return flag !== undefined && flag !== '' && flag !== '0' && flag !== 'false';
}

async function main(): Promise<void> {
  // `swarmlet service ls | head -1` closes the pipe early; that is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  try {
    await route(process.argv.slice(2), {
      out: (text) => process.stdout.write(text),
      err: (text) => process.stderr.write(text),
      env: process.env,
      now: () => Date.now(),
    });
  } catch (err) {
    process.stderr.write(`Error: ${describeError(err)}\n`);
    if (debugging() && err instanceof Error) {
      process.stderr.write(`${err.stack ?? ''}\n`);
      if (err instanceof SwarmletError && err.cause instanceof Error) process.stderr.write(`caused by: ${err.cause.stack ?? err.cause.message}\n`);
    }
    process.exitCode = 1;
  }
}

void main();
