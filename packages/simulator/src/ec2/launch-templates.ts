/** CreateLaunchTemplate, DescribeLaunchTemplates, DeleteLaunchTemplate: one version each, enough for CreateFleet. */
import type {
  CreateLaunchTemplateCommandInput,
  CreateLaunchTemplateCommandOutput,
  DeleteLaunchTemplateCommandInput,
  DeleteLaunchTemplateCommandOutput,
  DescribeLaunchTemplatesCommandInput,
  DescribeLaunchTemplatesCommandOutput,
  LaunchTemplate,
} from '@aws-sdk/client-ec2';
import { CreateLaunchTemplate$, DeleteLaunchTemplate$, DescribeLaunchTemplates$ } from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { ActionDef, CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';
import { tagList } from '../state/records.js';
import type { LaunchTemplateRecord } from '../state/records.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

function view(t: LaunchTemplateRecord): LaunchTemplate {
  return {
    LaunchTemplateId: t.launchTemplateId,
    LaunchTemplateName: t.launchTemplateName,
    CreateTime: t.createTime,
    CreatedBy: `arn:aws:iam::${ACCOUNT_ID}:root`,
    DefaultVersionNumber: 1,
    LatestVersionNumber: 1,
    Tags: tagList(t.tags),
  };
}

/** A template by id or name in the call's region, or the AWS not-found error. */
export function findLaunchTemplate(call: CallContext, id: string | undefined, name: string | undefined, param = 'LaunchTemplateId'): LaunchTemplateRecord {
  if (!id && !name) throw new ApiError('MissingParameter', `The request must contain the parameter ${param} or LaunchTemplateName`);
  const w = call.sim.world;
  const t = id ? w.launchTemplates.get(id) : [...w.inRegion(w.launchTemplates, call.region)].find((x) => x.launchTemplateName === name);
  if (!t || t.region !== call.region) {
    if (id) throw new ApiError('InvalidLaunchTemplateId.NotFound', `The specified launch template, with template ID ${id}, does not exist.`);
    throw new ApiError('InvalidLaunchTemplateName.NotFoundException', `The specified launch template, with template name ${name}, does not exist.`);
  }
  return t;
}

export const launchTemplateActions: Record<string, ActionDef> = {
  CreateLaunchTemplate: action<CreateLaunchTemplateCommandInput, Out<CreateLaunchTemplateCommandOutput>>(CreateLaunchTemplate$, (input, call) => {
    const name = required(input.LaunchTemplateName, 'LaunchTemplateName');
    if (!/^[a-zA-Z0-9().\-/_]{3,128}$/.test(name)) throw invalidParameter('LaunchTemplateName', 'must be 3 to 128 of a-z A-Z 0-9 ( ) . - / _');
    const data = required(input.LaunchTemplateData, 'LaunchTemplateData');
    const w = call.sim.world;
    if ([...w.inRegion(w.launchTemplates, call.region)].some((t) => t.launchTemplateName === name)) {
      throw new ApiError('InvalidLaunchTemplateName.AlreadyExistsException', `Launch template name already in use.`);
    }
    const t: LaunchTemplateRecord = {
      launchTemplateId: ids.launchTemplate(),
      launchTemplateName: name,
      region: call.region,
      createTime: call.sim.clock.date(),
      data,
      tags: tagsFor(input.TagSpecifications, 'launch-template'),
    };
    w.launchTemplates.set(t.launchTemplateId, t);
    return { LaunchTemplate: view(t) };
  }),

  DescribeLaunchTemplates: action<DescribeLaunchTemplatesCommandInput, Out<DescribeLaunchTemplatesCommandOutput>>(DescribeLaunchTemplates$, (input, call) => {
    let items: LaunchTemplateRecord[];
    if (input.LaunchTemplateIds?.length || input.LaunchTemplateNames?.length) {
      items = [
        ...(input.LaunchTemplateIds ?? []).map((id) => findLaunchTemplate(call, id, undefined)),
        ...(input.LaunchTemplateNames ?? []).map((n) => findLaunchTemplate(call, undefined, n)),
      ];
    } else {
      items = [...call.sim.world.inRegion(call.sim.world.launchTemplates, call.region)];
    }
    items = applyFilters(items, input.Filters, (t, name) => {
      if (name === 'launch-template-name') return [t.launchTemplateName];
      if (name === 'create-time') return [t.createTime.toISOString()];
      return tagFilterValues(t.tags, name);
    });
    const page = paginate(items, input.MaxResults, input.NextToken, { min: 1, max: 200 });
    return { LaunchTemplates: page.items.map(view), NextToken: page.nextToken };
  }),

  DeleteLaunchTemplate: action<DeleteLaunchTemplateCommandInput, Out<DeleteLaunchTemplateCommandOutput>>(DeleteLaunchTemplate$, (input, call) => {
    const t = findLaunchTemplate(call, input.LaunchTemplateId, input.LaunchTemplateName);
    call.sim.world.launchTemplates.delete(t.launchTemplateId);
    return { LaunchTemplate: view(t) };
  }),
};
