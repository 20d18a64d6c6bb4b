/**
 * The fleet's message catalogue: every service a message can name, its queue,
 * its body schema, who sends it. docs/messages.md describes it.
 *
 * The job lifecycle services (job.submit, security.create, spot.request, ...)
 * join this catalogue with their handlers; the state tables in
 * shared/states.ts already name the ones the reconciler re-drives.
 */
import { defineCatalog } from '../shared/envelope.js';

export const catalog = defineCatalog({});

export type FleetCatalog = typeof catalog;
