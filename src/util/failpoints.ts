/**
 * Failpoints: named places where a test can make the process die for real (SIGKILL), to prove that recovery
 * works from exactly that point — for example between creating a container and recording it. Off unless the
 * SWARMLET_FAILPOINTS environment variable names them (comma-separated); a disabled failpoint costs one Set
 * lookup.
 */

const enabled = new Set((process.env.SWARMLET_FAILPOINTS ?? '').split(',').map((name) => name.trim()).filter(Boolean));

export function failpoint(name: string): void {
  if (!enabled.has(name)) return;
  process.stderr.write(`failpoint ${name}: killing the process\n`);
  process.kill(process.pid, 'SIGKILL');
}
