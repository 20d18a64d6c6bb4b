/** EventBridge events from EC2, as EventBridge puts them on the events queue. */
import { z } from 'zod';

export const Ec2EventSchema = z
  .object({
    version: z.string().optional(),
    id: z.string().min(1),
    'detail-type': z.string().min(1),
    source: z.literal('aws.ec2'),
    account: z.string().optional(),
    time: z.string().min(1),
    region: z.string().min(1),
    resources: z.array(z.string()).default([]),
    detail: z
      .object({
        'instance-id': z.string().optional(),
        'instance-action': z.string().optional(),
        state: z.string().optional(),
      })
      .passthrough(),
  })
  .passthrough();

export type Ec2Event = z.infer<typeof Ec2EventSchema>;
