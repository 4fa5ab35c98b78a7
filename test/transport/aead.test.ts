/**
 * What a node offers and what a responder picks: the CPU check from /proc/cpuinfo, the environment override, and
 * the rule that makes AES-GCM the choice exactly when both nodes have AES instructions.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aeadOffer, aeadWireId, chooseAead, cpuinfoHasAes, describeOffer, localAeadOffer, type AeadName } from '../../src/transport/aead.ts';

/** Trimmed from real machines. */
const CPUINFO = {
  x86WithAes: 'processor\t: 0\nflags\t\t: fpu vme sse2 ssse3 pclmulqdq aes avx\n\nprocessor\t: 1\nflags\t\t: fpu vme sse2 ssse3 pclmulqdq aes avx\n',
  x86WithoutAes: 'processor\t: 0\nflags\t\t: fpu vme sse2 ssse3\n', // an Atom of 2008, or a VM hiding AES-NI
  x86VaesOnly: 'processor\t: 0\nflags\t\t: fpu vaes avx512f\n', // "vaes" alone is not "aes"
  x86OneCoreWithout: 'processor\t: 0\nflags\t\t: fpu aes\n\nprocessor\t: 1\nflags\t\t: fpu\n',
  pi4: 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n',
  pi5: 'processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid\nCPU part\t: 0xd0b\n',
  pi4Armv7: 'processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nFeatures\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n',
};

const ids = (...names: AeadName[]) => Uint8Array.from(names, aeadWireId);

describe('AEAD offer and choice', () => {
  it('reads AES instructions from /proc/cpuinfo per architecture', () => {
    assert.equal(cpuinfoHasAes(CPUINFO.x86WithAes, 'x64'), true);
    assert.equal(cpuinfoHasAes(CPUINFO.x86WithAes, 'ia32'), true);
    assert.equal(cpuinfoHasAes(CPUINFO.x86WithoutAes, 'x64'), false);
    assert.equal(cpuinfoHasAes(CPUINFO.x86VaesOnly, 'x64'), false);
    assert.equal(cpuinfoHasAes(CPUINFO.x86OneCoreWithout, 'x64'), false, 'every CPU must have it');
    assert.equal(cpuinfoHasAes(CPUINFO.pi4, 'arm64'), false, 'a Cortex-A72 without the crypto extensions');
    assert.equal(cpuinfoHasAes(CPUINFO.pi5, 'arm64'), true);
    assert.equal(cpuinfoHasAes(CPUINFO.pi4Armv7, 'arm'), false);
    assert.equal(cpuinfoHasAes(CPUINFO.pi5.replace('Features', 'flags'), 'arm64'), false, 'the field must be the one of the architecture');
    assert.equal(cpuinfoHasAes(CPUINFO.x86WithAes, 'riscv64'), false);
    assert.equal(cpuinfoHasAes('', 'x64'), false);
  });

  it('offers AES-256-GCM first only with hardware AES, and ChaCha20-Poly1305 always', () => {
    assert.deepEqual(aeadOffer(true), ['aes-256-gcm', 'chacha20-poly1305']);
    assert.deepEqual(aeadOffer(false), ['chacha20-poly1305']);
    assert.deepEqual(aeadOffer(true, ''), ['aes-256-gcm', 'chacha20-poly1305']);
    assert.deepEqual(aeadOffer(false, 'auto'), ['chacha20-poly1305']);
  });

  it('offers only the AEAD the override names, and refuses an override that names none', () => {
    assert.deepEqual(aeadOffer(true, 'chacha20-poly1305'), ['chacha20-poly1305']);
    assert.deepEqual(aeadOffer(false, 'AES-256-GCM'), ['aes-256-gcm']);
    assert.throws(() => aeadOffer(true, 'aes-128-cbc'), { code: 'invalid_argument', message: /SWARMLET_TRANSPORT_AEAD must be/ });
    assert.deepEqual(localAeadOffer({ SWARMLET_TRANSPORT_AEAD: 'chacha20-poly1305' }), ['chacha20-poly1305']);
    assert.throws(() => localAeadOffer({ SWARMLET_TRANSPORT_AEAD: 'chacha' }), { code: 'invalid_argument' });
  });

  it('picks AES-GCM exactly when both sides have hardware AES, ChaCha20 otherwise', () => {
    for (const initiatorAes of [true, false]) {
      for (const responderAes of [true, false]) {
        const chosen = chooseAead(Uint8Array.from(aeadOffer(initiatorAes), aeadWireId), aeadOffer(responderAes));
        assert.equal(chosen, initiatorAes && responderAes ? 'aes-256-gcm' : 'chacha20-poly1305', `initiator AES ${initiatorAes}, responder AES ${responderAes}`);
      }
    }
  });

  it('follows the initiator\'s order, skips ids it does not know, and finds nothing in common when there is none', () => {
    assert.equal(chooseAead(ids('chacha20-poly1305', 'aes-256-gcm'), ['aes-256-gcm', 'chacha20-poly1305']), 'chacha20-poly1305');
    assert.equal(chooseAead(Uint8Array.of(77, aeadWireId('aes-256-gcm')), ['aes-256-gcm']), 'aes-256-gcm');
    assert.equal(chooseAead(ids('aes-256-gcm'), ['chacha20-poly1305']), null);
    assert.equal(chooseAead(Uint8Array.of(0, 255), ['chacha20-poly1305']), null);
    assert.equal(describeOffer(Uint8Array.of(77, aeadWireId('chacha20-poly1305'))), '#77, chacha20-poly1305');
  });
});
