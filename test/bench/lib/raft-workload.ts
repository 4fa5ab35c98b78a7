/**
 * What the Raft benchmark proposes and how it reads the results: a service spec of the size a real stack file
 * gives (about 1 KB of JSON), percentiles, and the kernel's count of bytes this process sent towards the disk.
 */

import { readFileSync } from 'node:fs';
import type { ServiceSpec } from '../../../src/api/types.ts';

/**
 * A web service as `docker stack deploy` would send it: labels, an image pinned by digest, environment, limits,
 * placement, update settings, a published port. `revision` changes one variable, as a redeploy does.
 */
export function realisticSpec(name: string, revision: number): ServiceSpec {
  return {
    Name: name,
    Labels: { 'com.docker.stack.namespace': 'shop', 'com.docker.stack.image': 'registry.example.com/shop/web:1.24.3' },
    TaskTemplate: {
      ContainerSpec: {
        Image: 'registry.example.com/shop/web:1.24.3@sha256:9f2c6d4b1a0e8f7c3d5b2a1908e7f6d5c4b3a2910f8e7d6c5b4a39281706f5e4',
        Args: ['--port', '8080', '--workers', '2'],
        Env: ['NODE_ENV=production', 'DATABASE_URL=postgres://shop@db:5432/shop', `REVISION=${revision}`],
        StopGracePeriod: 10_000_000_000,
        Init: true,
      },
      Resources: { Limits: { NanoCPUs: 500_000_000, MemoryBytes: 268_435_456 }, Reservations: { NanoCPUs: 100_000_000, MemoryBytes: 67_108_864 } },
      RestartPolicy: { Condition: 'any', Delay: 5_000_000_000, MaxAttempts: 0 },
      Placement: { Constraints: ['node.role == worker', 'node.labels.zone == a'] },
      Networks: [{ Target: 'shop_default', Aliases: ['web'] }],
    },
    Mode: { Replicated: { Replicas: 3 } },
    UpdateConfig: { Parallelism: 1, Delay: 10_000_000_000, FailureAction: 'rollback', Monitor: 5_000_000_000, Order: 'start-first' },
    EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 8080, PublishedPort: 80, PublishMode: 'ingress' }] },
  };
}

/** The value below which `p` percent of `values` fall (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * write_bytes from /proc/self/io: what this process caused to be sent to the storage layer, counted by the page
 * as pages are dirtied (an append after an fsync dirties its page again), without the file system's journal.
 * Null where /proc is not Linux's.
 */
export function processWriteBytes(): number | null {
  try {
    const line = /^write_bytes:\s*(\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return line ? Number(line[1]) : null;
  } catch {
    return null;
  }
}

export const kilobytes = (bytes: number): string => `${(bytes / 1000).toFixed(2)} KB`;
