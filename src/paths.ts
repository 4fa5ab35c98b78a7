/**
 * Default locations. Root gets the system paths a systemd unit expects; anyone else gets per-user paths, so a
 * developer can run a daemon without privileges (with rootless engines) and tests can run several side by side.
 */

import os from 'node:os';
import path from 'node:path';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export function defaultSocketPath(): string {
  if (isRoot()) return '/run/swarmlet/swarmlet.sock';
  const runtimeDir = process.env.XDG_RUNTIME_DIR || path.join(os.tmpdir(), `swarmlet-${process.getuid?.() ?? 'user'}`);
  return path.join(runtimeDir, 'swarmlet', 'swarmlet.sock');
}

export function defaultDataDir(): string {
  if (isRoot()) return '/var/lib/swarmlet';
  const dataHome = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(dataHome, 'swarmlet');
}

export const DEFAULT_ENGINE = 'unix:///var/run/docker.sock';

/** Accepts `unix:///path` or a bare absolute path; returns the socket path. */
export function socketPathFromUrl(url: string): string {
  if (url.startsWith('unix://')) return url.slice('unix://'.length);
  if (url.startsWith('/')) return url;
  throw new Error(`unsupported address "${url}": use unix:///path/to/socket`);
}
