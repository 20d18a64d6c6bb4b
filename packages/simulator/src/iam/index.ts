/** Every IAM action the simulator answers. */
import type { ActionDef } from '../context.js';
import { instanceProfileActions } from './instance-profiles.js';
import { policyActions } from './policies.js';
import { roleActions } from './roles.js';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';

export const iamActions: Record<string, ActionDef> = { ...roleActions, ...instanceProfileActions, ...policyActions };
