/**
 * `swarmlet install`: put the running executable in /usr/local/bin, write the systemd unit, enable and start it.
 *
 * Planned, then applied: `planInstall` is pure and returns the steps, `applyInstall` performs or prints them. That
 * keeps `--dry-run` honest (it prints the very steps a real run performs) and lets tests check the plan without
 * touching the machine.
 */

import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, realpath, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSea } from 'node:sea';
import type { CAC } from 'cac';
import { SwarmletError } from '../errors.ts';
import { UNIT_TEXT } from './unit.ts';

export const BINARY_PATH = '/usr/local/bin/swarmlet';
export const UNIT_PATH = '/etc/systemd/system/swarmlet.service';

export type Step =
  | { kind: 'copy'; from: string; to: string; mode: number }
  | { kind: 'write'; to: string; content: string; mode: number }
  /** `skipped` holds the reason when the command is shown but must not run. */
  | { kind: 'run'; argv: string[]; skipped?: string };

export interface InstallPlanInput {
  /** The swarmlet executable to install. */
  executable: string;
  /** `/` for this machine; any other directory is a system image being prepared (an SD card's root, say). */
  root: string;
  unitText: string;
}

export function planInstall({ executable, root, unitText }: InstallPlanInput): Step[] {
  const intoImage = path.resolve(root) !== '/';
  const skipped = intoImage
    ? `--root ${root}: systemd there is not running; enable the unit on that system, or now with "systemctl --root=${root} enable swarmlet"`
    : undefined;
  return [
    { kind: 'copy', from: executable, to: path.join(root, BINARY_PATH), mode: 0o755 },
    { kind: 'write', to: path.join(root, UNIT_PATH), content: unitText, mode: 0o644 },
    { kind: 'run', argv: ['systemctl', 'daemon-reload'], skipped },
    { kind: 'run', argv: ['systemctl', 'enable', 'swarmlet'], skipped },
    // restart rather than `enable --now`: reinstalling a newer binary must replace a running daemon. Containers
    // belong to the engine and outlive the restart; the daemon adopts them again.
    { kind: 'run', argv: ['systemctl', 'restart', 'swarmlet'], skipped },
  ];
}

export function describeStep(step: Step): string {
  const mode = (m: number) => m.toString(8).padStart(4, '0');
  switch (step.kind) {
    case 'copy':
      return `copy ${step.from} to ${step.to} (mode ${mode(step.mode)})`;
    case 'write':
      return `write ${step.to} (mode ${mode(step.mode)}, ${Buffer.byteLength(step.content)} bytes)`;
    case 'run':
      return step.skipped ? `skip ${step.argv.join(' ')} (${step.skipped})` : `run ${step.argv.join(' ')}`;
  }
}

export interface ApplyOptions {
  dryRun: boolean;
  log: (line: string) => void;
}

/** Performs the steps in order and stops at the first failure, saying which step failed. */
export async function applyInstall(steps: Step[], { dryRun, log }: ApplyOptions): Promise<void> {
  for (const step of steps) {
    log(dryRun ? `would ${describeStep(step)}` : describeStep(step));
    if (dryRun) continue;
    try {
      await applyStep(step);
    } catch (err) {
      throw new SwarmletError('internal', `install: ${describeStep(step)} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}

async function applyStep(step: Step): Promise<void> {
  switch (step.kind) {
    case 'copy':
      // Copying over a running executable fails with ETXTBSY, and the one we replace is often running (an
      // upgrade); a new file renamed into place avoids that, and a crash never leaves half a binary.
      if ((await realpathOrNull(step.from)) === (await realpathOrNull(step.to))) return;
      await replaceFile(step.to, step.mode, (tmp) => copyFile(step.from, tmp));
      return;
    case 'write':
      await replaceFile(step.to, step.mode, (tmp) => writeFile(tmp, step.content));
      return;
    case 'run': {
      if (step.skipped) return;
      const [command, ...args] = step.argv;
      const result = spawnSync(command, args, { stdio: 'inherit' });
      if (result.error) throw result.error;
      if (result.status !== 0) throw new Error(`exit status ${result.status ?? result.signal}`);
      return;
    }
  }
}

async function replaceFile(target: string, mode: number, fill: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fill(tmp);
    await chmod(tmp, mode);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function realpathOrNull(file: string): Promise<string | null> {
  return realpath(file).catch(() => null);
}

export interface InstallCommandOptions {
  dryRun?: boolean;
  root?: string;
  log?: (line: string) => void;
}

export async function installCommand({ dryRun = false, root = '/', log = console.log }: InstallCommandOptions): Promise<void> {
  let executable = process.execPath;
  if (!isSea()) {
    // From source, process.execPath is node itself; installing that as swarmlet would be a silent disaster.
    const built = `dist/swarmlet-linux-${process.arch}`;
    if (!dryRun) {
      throw new SwarmletError('invalid_argument',
        `swarmlet install copies the running executable, but this is node running the source. ` +
        `Build first with "npm run build", then run "${built} install" (or add --dry-run to see the plan).`);
    }
    log(`note: running from source; a real install copies the built executable, ${built} (npm run build)`);
    executable = built;
  }
  if (!dryRun && path.resolve(root) === '/' && process.getuid?.() !== 0) {
    throw new SwarmletError('invalid_argument', 'swarmlet install writes to /usr/local/bin and /etc/systemd: run it as root (sudo swarmlet install)');
  }
  await applyInstall(planInstall({ executable, root, unitText: UNIT_TEXT }), { dryRun, log });
}

export function registerInstallCommand(cli: CAC): void {
  cli
    .command('install', 'Install this executable to /usr/local/bin as a systemd service, enabled and started')
    .option('--dry-run', 'Print what would be done and change nothing')
    .option('--root <dir>', 'Install into a system image under DIR; systemctl steps are skipped', { default: '/' })
    .action(async (opts: { dryRun?: boolean; root: string }) => {
      await installCommand({ dryRun: opts.dryRun, root: String(opts.root) });
    });
}
