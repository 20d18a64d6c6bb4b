/** CreateFleet (type instant). */
import type { ActionDef } from '../context.js';

export const fleetActions: Record<string, ActionDef> = {};
