/** A node's description, read from its engine: what the scheduler places against and `node inspect` shows. */

import { MAX_MESH_PORT_CONFLICTS, MAX_MESH_PORT_ERROR } from '../api/schemas.ts';
import type { MeshPortConflict, NodeDescription, NodeImage } from '../api/types.ts';
import type { ContainerRuntime, EngineInfo } from '../runtime/runtime.ts';

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

/**
 * The description with the published ports the node's routing mesh could not open, cut to what the leader accepts
 * (more would have the whole description refused, images and all). None leaves the field out, so a node whose ports
 * are all open describes itself as it did before the field existed. Sorted, so the same conflicts read the same.
 */
export function withMeshPortConflicts(description: NodeDescription, conflicts: readonly MeshPortConflict[]): NodeDescription {
  if (conflicts.length === 0) return description;
  const listed = [...conflicts]
    .sort((a, b) => a.Port - b.Port || a.Protocol.localeCompare(b.Protocol))
    .slice(0, MAX_MESH_PORT_CONFLICTS)
    .map((conflict) => ({ ...conflict, Error: conflict.Error.slice(0, MAX_MESH_PORT_ERROR) }));
  return { ...description, MeshPortConflicts: listed };
}

/**
 * Reads the whole description: the engine's info and the images it holds, with each image's platform. A
 * platform needs one inspect per image; image IDs name content, so an ID's platform never changes and is read
 * once. The images come sorted, so an unchanged engine describes itself identically every time.
 */
/** Exposed ports reported per image, at most (the leader refuses longer lists). */
const MAX_EXPOSED_PORTS = 64;

export class NodeDescriber {
  readonly #runtime: ContainerRuntime;
  readonly #options: { hostname?: string; systemReserveMemory?: number };
  /** What an image ID says of itself (its platform and exposed ports): content-addressed, so read once. */
  readonly #platforms = new Map<string, Pick<NodeImage, 'Platform' | 'ExposedPorts'>>();

  constructor(runtime: ContainerRuntime, options: { hostname?: string; systemReserveMemory?: number }) {
    this.#runtime = runtime;
    this.#options = options;
  }

  async describe(): Promise<NodeDescription> {
    const [info, listing] = await Promise.all([this.#runtime.info(), this.#runtime.listImages()]);
    const images: NodeImage[] = [];
    for (const image of listing) {
      const config = await this.#configOf(image.id);
      // Removed between the listing and the inspect: it is not there.
      if (config) images.push({ ID: image.id, RepoTags: [...image.repoTags].sort(), RepoDigests: [...image.repoDigests].sort(), ...config });
    }
    const listed = new Set(listing.map((image) => image.id));
    for (const id of this.#platforms.keys()) if (!listed.has(id)) this.#platforms.delete(id);
    images.sort((a, b) => (a.ID < b.ID ? -1 : a.ID > b.ID ? 1 : 0));
    return { ...describeNode(info, this.#options), Images: images, MemoryLimit: info.MemoryLimit };
  }

  async #configOf(id: string): Promise<Pick<NodeImage, 'Platform' | 'ExposedPorts'> | undefined> {
    const known = this.#platforms.get(id);
    if (known) return known;
    const image = await this.#runtime.inspectImage(id);
    if (!image) return undefined;
    const config = {
      Platform: { OS: image.os, Architecture: image.architecture, ...(image.variant ? { Variant: image.variant } : {}) },
      ...(image.exposedPorts.length > 0 ? { ExposedPorts: image.exposedPorts.slice(0, MAX_EXPOSED_PORTS) } : {}),
    };
    this.#platforms.set(id, config);
    return config;
  }
}
