/**
 * /distribution/{image}/json, answered from the engine's local image. `docker service create` asks it to pin
 * the image's digest; Docker would ask a registry, which a field deployment does not have. The image's ID
 * stands in for the digest of images that never came from a registry; the agent resolves it back.
 */

import { notFound } from '../../errors.ts';
import type { ApiContext } from '../context.ts';
import { sendJson } from '../http.ts';
import type { Router } from '../router.ts';

export function distributionRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/distribution/{name*}/json', async ({ res, params }) => {
    const name = params.name!;
    const image = await ctx.runtime.inspectImage(name);
    if (!image) throw notFound(`No such image: ${name} (swarmlet answers from the local engine only)`);
    const repoDigest = image.repoDigests.find((digest) => digest.includes('@'));
    sendJson(res, 200, {
      Descriptor: {
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        digest: repoDigest ? repoDigest.slice(repoDigest.indexOf('@') + 1) : image.id,
        size: 0,
      },
      Platforms: [{ architecture: image.architecture, os: image.os }],
    });
  });
}
