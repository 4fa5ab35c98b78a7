import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { imageMatches, normalizeRepository, parseImageReference } from '../../src/manager/scheduler/image-reference.ts';
import { ImageCatalog } from '../../src/manager/scheduler/node-images.ts';
import { canRun, normalizePlatform, nodePlatform } from '../../src/manager/scheduler/platform.ts';
import { node, nodeImage } from '../helpers/fixtures.ts';

const nodeWith = (images: ReturnType<typeof nodeImage>[]) => node('n1', { images });

const ID = `sha256:${'ab'.repeat(32)}`;
const DIGEST = `sha256:${'cd'.repeat(32)}`;
const busybox = nodeImage(['busybox:latest'], { id: ID, repoDigests: [`busybox@${DIGEST}`] });
const has = (reference: string, image = busybox) => imageMatches(parseImageReference(reference), image);

describe('image references', () => {
  it('normalizes repository names as Docker does', () => {
    assert.equal(normalizeRepository('busybox'), 'docker.io/library/busybox');
    assert.equal(normalizeRepository('me/app'), 'docker.io/me/app');
    assert.equal(normalizeRepository('index.docker.io/library/busybox'), 'docker.io/library/busybox');
    assert.equal(normalizeRepository('localhost/app'), 'localhost/app');
    assert.equal(normalizeRepository('registry.lan:5000/team/app'), 'registry.lan:5000/team/app');
    assert.equal(normalizeRepository('Registry/app'), 'Registry/app');
  });

  it('matches a tag however it is spelled, and nothing else', () => {
    for (const reference of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest']) assert.ok(has(reference), reference);
    assert.ok(!has('busybox:1.36'));
    assert.ok(!has('other/busybox'));
    const local = nodeImage(['registry.lan:5000/app:2'], { id: ID });
    assert.ok(has('registry.lan:5000/app:2', local));
    assert.ok(!has('registry.lan:5000/app', local), 'a port is not a tag');
  });

  it('lets a pinned digest decide, matching a repo digest or, for loaded images, the image ID', () => {
    assert.ok(has(`busybox:latest@${DIGEST}`));
    assert.ok(has(`anything:else@${DIGEST}`), 'content counts, not the name');
    assert.ok(!has(`busybox:latest@sha256:${'ef'.repeat(32)}`), 'the tag alone does not do when the digest differs');
    const loaded = nodeImage(['app:1'], { id: ID });
    assert.ok(has(`app:1@${ID}`, loaded));
  });

  it('accepts image IDs, whole or abbreviated', () => {
    assert.ok(has(ID));
    assert.ok(has(ID.slice(0, 19)));
    assert.ok(has('ab'.repeat(32)));
    assert.ok(has('abababababab'), '12 hex digits may be a short ID');
    assert.ok(!has(`sha256:${'ef'.repeat(32)}`));
  });

  it('indexes a node the same way as matching one image at a time (property)', () => {
    const tags = ['busybox', 'busybox:1', 'app:1', 'me/app:1', 'registry.lan:5000/app:1', '<none>:<none>'];
    const names = [...tags.slice(0, 5), 'docker.io/library/busybox:latest', 'library/busybox:1', 'app'];
    const ids = [ID, DIGEST, `sha256:${'12'.repeat(32)}`];
    // As an engine holds them: IDs are unique, and a tag names at most one image.
    const node = fc
      .uniqueArray(fc.constantFrom(...ids), { maxLength: 3 })
      .chain((imageIds) =>
        fc.record({
          imageIds: fc.constant(imageIds),
          tagOwner: fc.array(fc.integer({ min: -1, max: imageIds.length - 1 }), { minLength: tags.length, maxLength: tags.length }),
          digests: fc.array(fc.subarray(ids.map((d) => `app@${d}`)), { minLength: imageIds.length, maxLength: imageIds.length }),
        }),
      );
    const reference = fc.oneof(fc.constantFrom(...names), fc.constantFrom(...ids), fc.constantFrom(...ids).map((d) => `app:1@${d}`), fc.constant(ID.slice(7, 20)));
    fc.assert(
      fc.property(node, reference, ({ imageIds, tagOwner, digests }, text) => {
        const held = imageIds.map((id, i) => nodeImage(tags.filter((_, t) => tagOwner[t] === i), { id, repoDigests: digests[i]! }));
        const parsed = parseImageReference(text);
        const expected = held.filter((i) => imageMatches(parsed, i));
        const found = new ImageCatalog().find(parsed, nodeWith(held))!;
        assert.deepEqual(new Set(found), new Set(expected));
      }),
      { numRuns: 300 },
    );
  });

  it('reads a node that does not report its images as "not known"', () => {
    assert.equal(new ImageCatalog().find(parseImageReference('busybox'), node('n1')), undefined);
  });
});

describe('platforms', () => {
  it('maps the engine spelling of a machine onto the image spelling', () => {
    assert.deepEqual(nodePlatform({ Platform: { Architecture: 'x86_64', OS: 'linux' } }), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(nodePlatform({ Platform: { Architecture: 'aarch64', OS: 'linux' } }), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(nodePlatform({ Platform: { Architecture: 'armv7l', OS: 'linux' } }), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(nodePlatform({ Platform: { Architecture: 'armv6l', OS: 'linux' } }), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.deepEqual(normalizePlatform('linux', 'arm'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(normalizePlatform('linux', 'riscv64'), { os: 'linux', architecture: 'riscv64' });
  });

  it('runs an image only on its architecture, older 32-bit ARM variants included', () => {
    const machine = (arch: string) => normalizePlatform('linux', arch);
    const image = (arch: string, variant?: string) => normalizePlatform('linux', arch, variant);
    assert.ok(canRun(machine('x86_64'), image('amd64')));
    assert.ok(!canRun(machine('aarch64'), image('amd64')), 'an amd64 image never goes to an arm64 node');
    assert.ok(!canRun(machine('x86_64'), image('arm64')));
    assert.ok(canRun(machine('armv7l'), image('arm', 'v6')));
    assert.ok(!canRun(machine('armv6l'), image('arm', 'v7')));
    assert.ok(!canRun(machine('aarch64'), image('arm', 'v7')), 'AArch32 support is not reported, so not assumed');
    assert.ok(!canRun(machine('x86_64'), normalizePlatform('windows', 'amd64')));
    assert.ok(canRun(machine('aarch64'), normalizePlatform('linux', undefined)), 'an entry naming only the OS');
  });
});
