/**
 * Which of a node's images a reference names, answered from an index so that a pass over a thousand nodes does
 * not normalize every tag of every image for every service. image-reference.ts holds the rules; this holds speed.
 */

import type { Node, NodeImage } from '../../api/types.ts';
import type { ImageReference } from './image-reference.ts';
import { digestOf, normalizeTag } from './image-reference.ts';

interface ImageIndex {
  byTag: Map<string, NodeImage>;
  /** Repo digests and image IDs: a pinned digest may be either (see image-reference.ts). */
  byDigest: Map<string, NodeImage[]>;
  images: readonly NodeImage[];
}

/**
 * Indexes built on first use, one per node description. Keyed by the node's `Images` array: the state machine
 * replaces a node's description whole when the node reports a new one, so an index never goes stale; one
 * catalog is normally made per scheduling pass anyway (see `defaultFilters`).
 */
export class ImageCatalog {
  private readonly indexes = new WeakMap<readonly NodeImage[], ImageIndex>();
  /** The same tags recur on every node: normalize each once. */
  private readonly tags = new Map<string, string | undefined>();

  /** The node's images that `reference` names, or undefined when the node does not report its images. */
  find(reference: ImageReference, node: Node): NodeImage[] | undefined {
    const images = node.Description.Images;
    if (!images) return undefined;
    const index = this.index(images);
    if (reference.digest) return index.byDigest.get(reference.digest) ?? [];
    const found: NodeImage[] = [];
    const tagged = reference.tag === undefined ? undefined : index.byTag.get(reference.tag);
    if (tagged) found.push(tagged);
    const prefix = reference.idPrefix;
    if (prefix !== undefined) {
      for (const image of index.images) if (image !== tagged && image.ID.startsWith(prefix)) found.push(image);
    }
    return found;
  }

  private index(images: readonly NodeImage[]): ImageIndex {
    let index = this.indexes.get(images);
    if (index) return index;
    index = { byTag: new Map(), byDigest: new Map(), images };
    for (const image of images) {
      for (const repoTag of image.RepoTags) {
        const tag = this.normalize(repoTag);
        if (tag !== undefined) index.byTag.set(tag, image);
      }
      const digests = new Set([image.ID, ...image.RepoDigests.map(digestOf).filter((d) => d !== undefined)]);
      for (const digest of digests) {
        const list = index.byDigest.get(digest);
        if (list) list.push(image);
        else index.byDigest.set(digest, [image]);
      }
    }
    this.indexes.set(images, index);
    return index;
  }

  private normalize(repoTag: string): string | undefined {
    if (!this.tags.has(repoTag)) this.tags.set(repoTag, normalizeTag(repoTag));
    return this.tags.get(repoTag);
  }
}
