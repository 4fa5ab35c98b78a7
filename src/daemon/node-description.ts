/** A node's description, read from its engine: what the scheduler places against and `node inspect` shows. */

import type { NodeDescription } from '../api/types.ts';
import type { EngineInfo } from '../runtime/runtime.ts';

/** Engine labels arrive as `key=value` strings; constraints read them as a map. */
export function parseEngineLabels(labels: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const label of labels) {
    const eq = label.indexOf('=');
    if (eq > 0) result[label.slice(0, eq)] = label.slice(eq + 1);
    else if (label) result[label] = '';
  }
  return result;
}

/**
 * `systemReserveMemory` is kept back for the OS, the engine and swarmlet itself: the memory reported, and
 * scheduled against, is what tasks may reserve.
 */
export function describeNode(info: EngineInfo, options: { hostname?: string; systemReserveMemory?: number }): NodeDescription {
  return {
    Hostname: options.hostname ?? info.Name,
    Platform: { Architecture: info.Architecture, OS: info.OSType },
    Resources: {
      NanoCPUs: info.NCPU * 1e9,
      MemoryBytes: Math.max(0, info.MemTotal - (options.systemReserveMemory ?? 0)),
    },
    Engine: { EngineVersion: info.ServerVersion, Labels: parseEngineLabels(info.Labels), Plugins: [] },
  };
}
