/** market.collect.price / .sps / .if / .ondemand and market.summary: the collectors and the daily summary as fleet messages. */
import type { HandlerContext } from '../dispatcher/context.js';
import { collectAdvisor, collectOnDemand, collectPrices, collectScores } from './collect.js';
import { sendSummary } from './summary.js';

type Ctx = HandlerContext;

export async function marketCollectPrice(_body: Record<string, never>, ctx: Ctx): Promise<void> {
  await collectPrices(ctx);
}

export async function marketCollectSps(_body: Record<string, never>, ctx: Ctx): Promise<void> {
  await collectScores(ctx);
}

export async function marketCollectIf(_body: Record<string, never>, ctx: Ctx): Promise<void> {
  await collectAdvisor(ctx);
}

export async function marketCollectOnDemand(_body: Record<string, never>, ctx: Ctx): Promise<void> {
  await collectOnDemand(ctx);
}

export async function marketSummary(_body: Record<string, never>, ctx: Ctx): Promise<void> {
  await sendSummary(ctx);
}
