/**
 * Machines and the images they can run. An engine names its machine as the kernel does (`x86_64`, `aarch64`,
 * `armv7l`, from /info), an image names its target as Go does (`amd64`, `arm64`, `arm` + variant `v7`); this is
 * the one place that maps the first onto the second.
 *
 * Matching is exact but for 32-bit ARM, whose variants run older ones (a Pi 2 on `armv7l` runs `arm/v6` images).
 * An `arm64` node is not given 32-bit `arm` images: whether the kernel can run AArch32 code is not in what the
 * node reports, and "exec format error" on a field box is worse than a pending task that says why. Likewise an
 * `amd64` node is not given `386` images.
 */

export interface Platform {
  os: string;
  /** In the image's spelling: amd64, arm64, arm, 386, ppc64le, s390x, riscv64... */
  architecture: string;
  /** For `arm`: v5, v6, v7 or v8 (32-bit code on an ARMv8 core). */
  variant?: string;
}

/** The kernel's name for a machine (`uname -m`, /info's Architecture) → the image spelling. */
const KERNEL_ARCHITECTURES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  x64: { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armv8l: { architecture: 'arm', variant: 'v8' },
  armv7l: { architecture: 'arm', variant: 'v7' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armv6l: { architecture: 'arm', variant: 'v6' },
  armel: { architecture: 'arm', variant: 'v6' },
  armv5l: { architecture: 'arm', variant: 'v5' },
  armv5tel: { architecture: 'arm', variant: 'v5' },
  i386: { architecture: '386' },
  i486: { architecture: '386' },
  i586: { architecture: '386' },
  i686: { architecture: '386' },
};

/** What containerd assumes of an `arm` image or machine that gives no variant. */
const DEFAULT_ARM_VARIANT = 'v7';

/** Either spelling → the image spelling; unknown names pass through lowercased (ppc64le, s390x, riscv64). */
export function normalizePlatform(os: string | undefined, architecture: string | undefined, variant?: string): Platform {
  const arch = (architecture ?? '').toLowerCase();
  const known = KERNEL_ARCHITECTURES[arch];
  const resolved = known ?? { architecture: arch };
  const chosenVariant = resolved.variant ?? (variant ? variant.toLowerCase() : undefined);
  return {
    os: (os ?? '').toLowerCase(),
    architecture: resolved.architecture,
    ...(resolved.architecture === 'arm' ? { variant: chosenVariant ?? DEFAULT_ARM_VARIANT } : {}),
  };
}

/** The platform of a node, from its engine's /info as NodeDescription keeps it. */
export function nodePlatform(description: { Platform: { Architecture: string; OS: string } }): Platform {
  return normalizePlatform(description.Platform.OS, description.Platform.Architecture);
}

/** `v7` → 7; NaN for a variant that is not `vN`, which compares false with everything, so it only matches itself. */
const armLevel = (variant: string | undefined) => {
  const match = /^v(\d+)$/.exec(variant ?? '');
  return match ? Number(match[1]) : Number.NaN;
};

/**
 * Whether a node of platform `node` can run code built for `image`. Empty fields in `image` (a Platforms entry
 * that names only the OS, say) match anything.
 */
export function canRun(node: Platform, image: Platform): boolean {
  if (image.os !== '' && image.os !== node.os) return false;
  if (image.architecture === '') return true;
  if (image.architecture !== node.architecture) return false;
  if (image.architecture !== 'arm') return true;
  if (image.variant === node.variant) return true;
  return armLevel(image.variant) <= armLevel(node.variant);
}
