/**
 * Image references as a service spec names them, and whether an image a node's engine holds is the one named.
 *
 * With no registry to pull from, a node can run a task only if its engine already has the image, so the
 * scheduler has to answer "does this node have it?" the way the engine would: `busybox`, `busybox:latest` and
 * `docker.io/library/busybox:latest` are one name; a digest pinned by the docker CLI (`name:tag@sha256:…`) wins
 * over the tag, and matches either a repo digest or — for images that came from `docker load` and never had
 * one — the image ID, which swarmlet's /distribution endpoint hands out in its place.
 */

import type { NodeImage } from '../../api/types.ts';

export interface ImageReference {
  /** Fully qualified `domain/path:tag`, when the reference names a repository and no digest. */
  tag?: string;
  /** `sha256:…`, when pinned: then only the content counts, not the name. */
  digest?: string;
  /** `sha256:…`, whole or abbreviated, when the reference could be (or is) an image ID. */
  idPrefix?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const HEX = /^[0-9a-f]+$/;
/** Docker's shortest abbreviation of an ID that `docker run` output shows; shorter hex strings are names. */
const MIN_SHORT_ID = 12;

/**
 * `domain/path` as Docker normalizes a repository name: a first component that looks like a host (has a dot or a
 * port, or is `localhost`, or is not lowercase) is the registry; otherwise the registry is Docker Hub, where a
 * one-component name lives under `library/`.
 */
export function normalizeRepository(name: string): string {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  let domain = isDomain ? first : DEFAULT_DOMAIN;
  let path = isDomain ? name.slice(slash + 1) : name;
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return `${domain}/${path}`;
}

/** Splits `name[:tag][@digest]`; the tag's colon is the last one after the last slash (a port has one too). */
function split(reference: string): { name: string; tag?: string; digest?: string } {
  const at = reference.indexOf('@');
  const digest = at < 0 ? undefined : reference.slice(at + 1);
  const rest = at < 0 ? reference : reference.slice(0, at);
  const colon = rest.lastIndexOf(':');
  const hasTag = colon > rest.lastIndexOf('/');
  return {
    name: hasTag ? rest.slice(0, colon) : rest,
    ...(hasTag ? { tag: rest.slice(colon + 1) } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** Reads any string the API accepted as an image; never throws (a reference no engine knows matches nothing). */
export function parseImageReference(text: string): ImageReference {
  const reference = text.trim();
  if (reference.startsWith('sha256:')) return { idPrefix: reference };
  // 64 hex digits are always an ID (Docker refuses them as names); 12 or more may be an abbreviated ID or a name.
  if (HEX.test(reference) && reference.length === 64) return { idPrefix: `sha256:${reference}` };
  const { name, tag, digest } = split(reference);
  if (digest) return { digest };
  const qualified = `${normalizeRepository(name)}:${tag ?? 'latest'}`;
  const couldBeId = tag === undefined && HEX.test(reference) && reference.length >= MIN_SHORT_ID;
  return couldBeId ? { tag: qualified, idPrefix: `sha256:${reference}` } : { tag: qualified };
}

/** A RepoTag as an engine lists it (`busybox:latest`), fully qualified; undefined for `<none>:<none>`. */
export function normalizeTag(repoTag: string): string | undefined {
  if (repoTag.startsWith('<none>')) return undefined;
  const { name, tag } = split(repoTag);
  return `${normalizeRepository(name)}:${tag ?? 'latest'}`;
}

/** The digest of a RepoDigest (`busybox@sha256:…`). */
export function digestOf(repoDigest: string): string | undefined {
  const at = repoDigest.indexOf('@');
  return at < 0 ? undefined : repoDigest.slice(at + 1);
}

/** Whether `image` is the image `reference` names. One image at a time; node-images.ts indexes a whole node. */
export function imageMatches(reference: ImageReference, image: NodeImage): boolean {
  if (reference.digest) {
    return image.ID === reference.digest || image.RepoDigests.some((repoDigest) => digestOf(repoDigest) === reference.digest);
  }
  if (reference.tag && image.RepoTags.some((repoTag) => normalizeTag(repoTag) === reference.tag)) return true;
  return reference.idPrefix !== undefined && image.ID.startsWith(reference.idPrefix);
}
