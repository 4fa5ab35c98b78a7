/**
 * Resolves a service's image reference to one the local engine has, without ever asking a registry. A
 * reference pinned by digest (`name:tag@sha256:…`, as `docker service create` records it) is honoured: it matches
 * the image's repo digest, or — for images that never saw a registry (`docker load`, `docker import`) — its ID.
 */

import type { ContainerRuntime } from '../runtime/runtime.ts';

export async function resolveLocalImage(runtime: ContainerRuntime, ref: string): Promise<string | undefined> {
  if (await runtime.inspectImage(ref)) return ref;
  const at = ref.indexOf('@sha256:');
  if (at < 0) return undefined;
  const id = ref.slice(at + 1);
  const image = await runtime.inspectImage(id);
  return image ? image.id : undefined;
}
