/** Every EC2 action the simulator answers. */
import type { ActionDef } from '../context.js';
import { catalogActions } from './catalog-actions.js';
import { fleetActions } from './fleet.js';
import { imageActions } from './images.js';
import { instanceActions } from './instances.js';
import { keyPairActions } from './key-pairs.js';
import { launchTemplateActions } from './launch-templates.js';
import { marketActions } from './market-actions.js';
import { securityGroupActions } from './security-groups.js';
import { spotRequestActions } from './spot-requests.js';
import { tagActions } from './tags.js';

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export const ec2Actions: Record<string, ActionDef> = {
  ...catalogActions,
  ...imageActions,
  ...marketActions,
  ...keyPairActions,
  ...securityGroupActions,
  ...instanceActions,
  ...spotRequestActions,
  ...launchTemplateActions,
  ...fleetActions,
  ...tagActions,
};
