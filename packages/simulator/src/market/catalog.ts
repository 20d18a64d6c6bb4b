/** Regions, zones, instance types and images the simulator offers. */
import type { MarketData } from './data.js';
import { hash32 } from '../random.js';

const ZONE_LETTERS: Record<string, string> = {
  'us-east-1': 'abcdef',
  'us-west-2': 'abcd',
  'us-west-1': 'ac',
  'ap-northeast-1': 'acd',
  'ap-northeast-2': 'abcd',
  'ca-central-1': 'abd',
};

const DIRECTION: Record<string, string> = {
  east: 'e', west: 'w', north: 'n', south: 's', central: 'c',
  northeast: 'ne', northwest: 'nw', southeast: 'se', southwest: 'sw',
};

/** Rough regional on-demand price level relative to us-east-1. */
const REGION_PRICE: Record<string, number> = {
  'us-east-1': 1, 'us-east-2': 1, 'us-west-2': 1, 'us-west-1': 1.17, 'ca-central-1': 1.1, 'ca-west-1': 1.1,
  'sa-east-1': 1.55, 'mx-central-1': 1.2, 'af-south-1': 1.3, 'il-central-1': 1.2,
};

export interface InstanceTypeInfo {
  name: string;
  vcpus: number;
  memoryMiB: number;
  arch: 'x86_64' | 'arm64';
}

export interface ImageInfo {
  imageId: string;
  name: string;
  arch: 'x86_64' | 'arm64';
  region: string;
  creationDate: string;
  description: string;
}

export function architectureOf(type: string): 'x86_64' | 'arm64' {
  const family = type.split('.')[0] ?? '';
  if (family === 'a1') return 'arm64';
  const m = /^[a-z]+\d+([a-z-]*)$/.exec(family);
  return m && m[1]!.includes('g') ? 'arm64' : 'x86_64';
}

const SIZE_VCPUS: Record<string, number> = { nano: 2, micro: 2, small: 2, medium: 1, large: 2, xlarge: 4 };
/** GiB of memory per vCPU by family letter (c compute, m general, r/x/z memory...). */
const GIB_PER_VCPU: Record<string, number> = { c: 2, m: 4, r: 8, x: 16, z: 8, u: 16, t: 4, i: 8, d: 8, h: 8, g: 4, p: 8 };

/** vCPUs and memory of a type from its name alone (`c8a.4xlarge` -> 16 vCPUs, 32 GiB). */
export function sizeFromName(type: string): { vcpus: number; memoryMiB: number } {
  const [family = '', size = ''] = type.split('.');
  const m = /^(\d*)xlarge$/.exec(size) ?? /^metal-(\d+)xl$/.exec(size);
  const vcpus = m ? 4 * Number(m[1] || 1) : (SIZE_VCPUS[size] ?? (size === 'metal' ? 96 : 2));
  const perVcpu = GIB_PER_VCPU[family[0] ?? 'm'] ?? 4;
  const gib = size === 'nano' ? 0.5 : size === 'micro' ? 1 : size === 'small' ? 2 : vcpus * perVcpu;
  return { vcpus, memoryMiB: Math.round(gib * 1024) };
}

export function zoneIdPrefix(region: string): string {
  const [geo, dir, num] = region.split('-');
  return `${geo}${DIRECTION[dir ?? ''] ?? (dir ?? '').slice(0, 1)}${num}`;
}

export class Catalog {
  private typeCache?: Map<string, InstanceTypeInfo>;
  private readonly offerCache = new Map<string, string[]>();

  constructor(private readonly data: MarketData) {}

  regions(): string[] {
    return Object.keys(this.data.advisor().spot_advisor).sort();
  }

  hasRegion(region: string): boolean {
    return region in this.data.advisor().spot_advisor;
  }

  zones(region: string): { name: string; id: string }[] {
    const letters = ZONE_LETTERS[region] ?? 'abc';
    return [...letters].map((l, i) => ({ name: `${region}${l}`, id: `${zoneIdPrefix(region)}-az${i + 1}` }));
  }

  zoneExists(region: string, zone: string): boolean {
    return this.zones(region).some((z) => z.name === zone);
  }

  types(): Map<string, InstanceTypeInfo> {
    if (!this.typeCache) {
      const m = new Map<string, InstanceTypeInfo>();
      for (const [name, t] of Object.entries(this.data.advisor().instance_types)) {
        if (name.startsWith('mac')) continue;
        m.set(name, { name, vcpus: t.cores, memoryMiB: Math.round(t.ram_gb * 1024), arch: architectureOf(name) });
      }
      for (const name of this.data.onDemand().keys()) {
        if (!m.has(name) && !name.startsWith('mac') && name.includes('.')) {
          // type known by price only: size estimated from its name
          const { vcpus, memoryMiB } = sizeFromName(name);
          m.set(name, { name, vcpus, memoryMiB, arch: architectureOf(name) });
        }
      }
      this.typeCache = m;
    }
    return this.typeCache;
  }

  /**
   * Types offered in the region (DescribeInstanceTypeOfferings): those the advisor snapshot lists for the
   * region, plus the types it has no entry for anywhere (known only by price), offered everywhere. Every zone
   * of the region offers them.
   */
  offeredTypes(region: string): string[] {
    const cached = this.offerCache.get(region);
    if (cached) return cached;
    const advisor = this.data.advisor().spot_advisor;
    const inRegion = advisor[region]?.Linux ?? {};
    const anywhere = new Set<string>();
    for (const r of Object.values(advisor)) for (const t of Object.keys(r.Linux ?? {})) anywhere.add(t);
    const offered = [...this.types().keys()].filter((t) => t in inRegion || !anywhere.has(t)).sort();
    this.offerCache.set(region, offered);
    return offered;
  }

  type(name: string): InstanceTypeInfo | undefined {
    return this.types().get(name);
  }

  /** On-demand USD/hour in the region: the us-east-1 list scaled by a regional level, or estimated from size. */
  onDemandPrice(region: string, type: string): number {
    const base = this.data.onDemand().get(type);
    const info = this.type(type);
    const estimate = info ? info.vcpus * 0.045 + (info.memoryMiB / 1024) * 0.006 : 0.1;
    const level = REGION_PRICE[region] ?? (region.startsWith('eu-') ? 1.12 : region.startsWith('ap-') ? 1.22 : region.startsWith('me-') ? 1.2 : 1.15);
    return Math.round((base ?? estimate) * level * 1e6) / 1e6;
  }

  /** Amazon Linux 2023 images of a region: one per architecture, ids stable across runs. */
  images(region: string): ImageInfo[] {
    return (['x86_64', 'arm64'] as const).map((arch) => ({
      imageId: `ami-${hash32(1, region, arch).toString(16).padStart(8, '0')}${hash32(2, region, arch).toString(16).padStart(8, '0').slice(0, 9)}`,
      name: `al2023-ami-2023.7.20250609.0-kernel-6.1-${arch}`,
      arch,
      region,
      creationDate: '2025-06-09T21:41:04.000Z',
      description: `Amazon Linux 2023 AMI 2023.7.20250609.0 ${arch} HVM kernel-6.1`,
    }));
  }

  image(region: string, imageId: string): ImageInfo | undefined {
    return this.images(region).find((i) => i.imageId === imageId);
  }
}
