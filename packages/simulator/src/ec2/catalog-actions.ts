/** DescribeRegions, DescribeAvailabilityZones, DescribeInstanceTypes, DescribeImages. */
import type {
  DescribeAvailabilityZonesCommandInput,
  DescribeAvailabilityZonesCommandOutput,
  DescribeImagesCommandInput,
  DescribeImagesCommandOutput,
  DescribeInstanceTypesCommandInput,
  DescribeInstanceTypesCommandOutput,
  DescribeRegionsCommandInput,
  DescribeRegionsCommandOutput,
  DescribeInstanceTypeOfferingsCommandInput,
  DescribeInstanceTypeOfferingsCommandOutput,
  Image,
  InstanceTypeInfo as SdkInstanceType,
  InstanceTypeOffering,
} from '@aws-sdk/client-ec2';
import {
  DescribeAvailabilityZones$,
  DescribeImages$,
  DescribeInstanceTypeOfferings$,
  DescribeInstanceTypes$,
  DescribeRegions$,
} from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef } from '../context.js';
import { ApiError } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { ACCOUNT_ID } from '../ids.js';
import { tagList } from '../state/records.js';
import type { ImageRecord } from '../state/records.js';
import { paginate } from '../protocol/paginate.js';
import type { ImageInfo, InstanceTypeInfo } from '../market/catalog.js';

type Out<T> = Omit<T, '$metadata'>;

/** Regions an account must opt in to (EC2 User Guide, "Regions and Zones": those that are not enabled by default). */
const OPT_IN_REGIONS = new Set([
  'af-south-1', 'ap-east-1', 'ap-east-2', 'ap-south-2', 'ap-southeast-3', 'ap-southeast-4', 'ap-southeast-5',
  'ap-southeast-7', 'ca-west-1', 'eu-central-2', 'eu-south-1', 'eu-south-2', 'il-central-1', 'me-central-1', 'me-south-1', 'mx-central-1',
]);

/** The owner id of Amazon's public Amazon Linux images. */
const AMAZON_OWNER = '137112412989';

function typeView(t: InstanceTypeInfo): SdkInstanceType {
  const threads = t.arch === 'arm64' || t.vcpus === 1 ? 1 : 2;
  return {
    InstanceType: t.name as SdkInstanceType['InstanceType'],
    CurrentGeneration: true,
    FreeTierEligible: t.name === 't3.micro' || t.name === 't2.micro',
    SupportedUsageClasses: ['on-demand', 'spot'],
    SupportedRootDeviceTypes: ['ebs'],
    SupportedVirtualizationTypes: ['hvm'],
    BareMetal: t.name.endsWith('.metal'),
    Hypervisor: t.name.endsWith('.metal') ? undefined : 'nitro',
    ProcessorInfo: { SupportedArchitectures: [t.arch] },
    VCpuInfo: { DefaultVCpus: t.vcpus, DefaultCores: Math.max(1, Math.floor(t.vcpus / threads)), DefaultThreadsPerCore: threads },
    MemoryInfo: { SizeInMiB: t.memoryMiB },
    InstanceStorageSupported: false,
    EbsInfo: { EbsOptimizedSupport: 'default', EncryptionSupport: 'supported', NvmeSupport: 'required' },
    NetworkInfo: { NetworkPerformance: 'Up to 12.5 Gigabit', MaximumNetworkInterfaces: 4, Ipv4AddressesPerInterface: 15, Ipv6Supported: true, EnaSupport: 'required' },
    HibernationSupported: false,
    BurstablePerformanceSupported: t.name.startsWith('t'),
    AutoRecoverySupported: true,
    SupportedBootModes: t.arch === 'arm64' ? ['uefi'] : ['legacy-bios', 'uefi'],
  };
}

/** One of the account's own images (CopyImage) as DescribeImages shows it. */
function ownImageView(i: ImageRecord): Image {
  return {
    ...imageView({ imageId: i.imageId, name: i.name, arch: i.arch, region: i.region, creationDate: i.creationDate, description: i.description }),
    ImageLocation: `${ACCOUNT_ID}/${i.name}`,
    State: i.state,
    OwnerId: ACCOUNT_ID,
    Public: false,
    ImageOwnerAlias: undefined,
    SourceImageId: i.sourceImageId,
    SourceImageRegion: i.sourceRegion,
    ...(i.stateReason ? { StateReason: { Code: i.stateReason.code, Message: i.stateReason.message } } : {}),
    BlockDeviceMappings: i.snapshotIds.map((id, n) => ({
      DeviceName: n === 0 ? '/dev/xvda' : `/dev/sd${String.fromCharCode(98 + n)}`,
      Ebs: { DeleteOnTermination: true, VolumeSize: 8, VolumeType: 'gp3', Encrypted: false, SnapshotId: id },
    })),
    Tags: tagList(i.tags),
  };
}

function imageView(i: ImageInfo): Image {
  return {
    ImageId: i.imageId,
    ImageLocation: `amazon/${i.name}`,
    State: 'available',
    OwnerId: AMAZON_OWNER,
    CreationDate: i.creationDate,
    Public: true,
    Architecture: i.arch,
    ImageType: 'machine',
    Name: i.name,
    Description: i.description,
    RootDeviceType: 'ebs',
    RootDeviceName: '/dev/xvda',
    VirtualizationType: 'hvm',
    Hypervisor: 'xen',
    EnaSupport: true,
    SriovNetSupport: 'simple',
    ImageOwnerAlias: 'amazon',
    PlatformDetails: 'Linux/UNIX',
    UsageOperation: 'RunInstances',
    BootMode: i.arch === 'arm64' ? 'uefi' : 'uefi-preferred',
    ImdsSupport: 'v2.0',
    DeprecationTime: '2027-06-09T21:41:00.000Z',
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true, VolumeSize: 8, VolumeType: 'gp3', Encrypted: false, SnapshotId: `snap-${i.imageId.slice(4)}` } }],
  };
}

export const catalogActions: Record<string, ActionDef> = {
  DescribeRegions: action<DescribeRegionsCommandInput, Out<DescribeRegionsCommandOutput>>(DescribeRegions$, (input, call) => {
    const faults = call.sim.faults;
    const status = (r: string): string => (!OPT_IN_REGIONS.has(r) ? 'opt-in-not-required' : faults.regionDisabled(r) ? 'not-opted-in' : 'opted-in');
    let regions = call.sim.catalog.regions();
    for (const name of input.RegionNames ?? []) {
      if (!regions.includes(name)) throw new ApiError('InvalidParameterValue', `Invalid region names: [${name}]`);
    }
    if (input.RegionNames?.length) regions = regions.filter((r) => input.RegionNames!.includes(r));
    // without AllRegions, only the regions enabled for the account (AWS)
    else if (input.AllRegions !== true) regions = regions.filter((r) => !faults.regionDisabled(r));
    regions = applyFilters(regions, input.Filters, (r, name) => {
      if (name === 'region-name') return [r];
      if (name === 'endpoint') return [`ec2.${r}.amazonaws.com`];
      if (name === 'opt-in-status') return [status(r)];
      return undefined;
    });
    return { Regions: regions.map((r) => ({ RegionName: r, Endpoint: `ec2.${r}.amazonaws.com`, OptInStatus: status(r) })) };
  }),

  DescribeAvailabilityZones: action<DescribeAvailabilityZonesCommandInput, Out<DescribeAvailabilityZonesCommandOutput>>(
    DescribeAvailabilityZones$,
    (input, call) => {
      let zones = call.sim.catalog.zones(call.region);
      for (const name of input.ZoneNames ?? []) {
        if (!zones.some((z) => z.name === name)) throw new ApiError('InvalidParameterValue', `The zone '${name}' does not exist.`);
      }
      for (const id of input.ZoneIds ?? []) {
        if (!zones.some((z) => z.id === id)) throw new ApiError('InvalidParameterValue', `The zone ID '${id}' does not exist.`);
      }
      if (input.ZoneNames?.length) zones = zones.filter((z) => input.ZoneNames!.includes(z.name));
      if (input.ZoneIds?.length) zones = zones.filter((z) => input.ZoneIds!.includes(z.id));
      zones = applyFilters(zones, input.Filters, (z, name) => {
        switch (name) {
          case 'zone-name':
            return [z.name];
          case 'zone-id':
            return [z.id];
          case 'state':
            return ['available'];
          case 'region-name':
            return [call.region];
          case 'zone-type':
            return ['availability-zone'];
          case 'group-name':
          case 'network-border-group':
            return [call.region];
          case 'opt-in-status':
            return ['opt-in-not-required'];
          default:
            return undefined;
        }
      });
      return {
        AvailabilityZones: zones.map((z) => ({
          ZoneName: z.name,
          ZoneId: z.id,
          State: 'available',
          RegionName: call.region,
          ZoneType: 'availability-zone',
          OptInStatus: 'opt-in-not-required',
          GroupName: call.region,
          NetworkBorderGroup: call.region,
          GroupLongName: call.region,
          Messages: [],
        })),
      };
    },
  ),

  DescribeInstanceTypes: action<DescribeInstanceTypesCommandInput, Out<DescribeInstanceTypesCommandOutput>>(DescribeInstanceTypes$, (input, call) => {
    // AWS: the instance types of the current Region; one the region does not offer is InvalidInstanceType there.
    const offered = new Set(call.sim.catalog.offeredTypes(call.region));
    const all = call.sim.catalog.types();
    const missing = (input.InstanceTypes ?? []).filter((t) => !all.has(t) || !offered.has(t));
    if (missing.length) throw new ApiError('InvalidInstanceType', `The following supplied instance types do not exist: [${missing.join(', ')}]`);
    let items = input.InstanceTypes?.length
      ? input.InstanceTypes.map((t) => all.get(t)!)
      : [...all.values()].filter((t) => offered.has(t.name)).sort((a, b) => a.name.localeCompare(b.name));
    items = applyFilters(items, input.Filters, (t, name) => {
      switch (name) {
        case 'instance-type':
          return [t.name];
        case 'processor-info.supported-architecture':
          return [t.arch];
        case 'vcpu-info.default-vcpus':
          return [String(t.vcpus)];
        case 'memory-info.size-in-mib':
          return [String(t.memoryMiB)];
        case 'current-generation':
          return ['true'];
        case 'supported-usage-class':
          return ['on-demand', 'spot'];
        case 'bare-metal':
          return [String(t.name.endsWith('.metal'))];
        default:
          return undefined;
      }
    });
    const page = paginate(items, input.MaxResults, input.NextToken, { min: 5, max: 100 });
    return { InstanceTypes: page.items.map(typeView), NextToken: page.nextToken };
  }),

  DescribeImages: action<DescribeImagesCommandInput, Out<DescribeImagesCommandOutput>>(DescribeImages$, (input, call) => {
    const amazon: Image[] = call.sim.catalog.images(call.region).map(imageView);
    const own: Image[] = [...call.sim.world.inRegion(call.sim.world.images, call.region)].map(ownImageView);
    const owners = input.Owners ?? [];
    const wantAmazon = owners.length === 0 || owners.some((o) => o === 'amazon' || o === AMAZON_OWNER);
    const wantOwn = owners.length === 0 || owners.some((o) => o === 'self' || o === ACCOUNT_ID);
    let items = [...(wantAmazon ? amazon : []), ...(wantOwn ? own : [])];
    for (const id of input.ImageIds ?? []) {
      if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw new ApiError('InvalidAMIID.Malformed', `Invalid id: "${id}" (expecting "ami-...")`);
      if (![...amazon, ...own].some((i) => i.ImageId === id)) throw new ApiError('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
    }
    if (input.ImageIds?.length) items = items.filter((i) => input.ImageIds!.includes(i.ImageId!));
    items = applyFilters(items, input.Filters, (i, name) => {
      switch (name) {
        case 'name':
          return [i.Name];
        case 'architecture':
          return [i.Architecture];
        case 'image-id':
          return [i.ImageId];
        case 'owner-alias':
          return [i.ImageOwnerAlias];
        case 'owner-id':
          return [i.OwnerId];
        case 'state':
          return [i.State];
        case 'image-type':
          return ['machine'];
        case 'root-device-type':
          return ['ebs'];
        case 'virtualization-type':
          return ['hvm'];
        case 'is-public':
          return [String(i.Public)];
        case 'platform-details':
          return ['Linux/UNIX'];
        case 'description':
          return [i.Description];
        default:
          return tagFilterValues(new Map((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])), name);
      }
    });
    const page = paginate(items, input.MaxResults, input.NextToken);
    return { Images: page.items, NextToken: page.nextToken };
  }),

  DescribeInstanceTypeOfferings: action<DescribeInstanceTypeOfferingsCommandInput, Out<DescribeInstanceTypeOfferingsCommandOutput>>(
    DescribeInstanceTypeOfferings$,
    (input, call) => {
      const locationType = input.LocationType ?? 'region';
      if (!['region', 'availability-zone', 'availability-zone-id'].includes(locationType)) {
        throw new ApiError('InvalidParameterValue', `Value (${locationType}) for parameter locationType is invalid.`);
      }
      const catalog = call.sim.catalog;
      const zones = catalog.zones(call.region);
      const locations = locationType === 'region' ? [call.region] : zones.map((z) => (locationType === 'availability-zone' ? z.name : z.id));
      let items: InstanceTypeOffering[] = [];
      for (const type of catalog.offeredTypes(call.region)) {
        for (const location of locations) items.push({ InstanceType: type as InstanceTypeOffering['InstanceType'], LocationType: locationType, Location: location });
      }
      items = applyFilters(items, input.Filters, (o, name) => {
        if (name === 'instance-type') return [o.InstanceType];
        if (name === 'location') return [o.Location];
        return undefined;
      });
      const page = paginate(items, input.MaxResults, input.NextToken, { min: 5, max: 1000 });
      return { InstanceTypeOfferings: page.items, NextToken: page.nextToken };
    },
  ),
};
