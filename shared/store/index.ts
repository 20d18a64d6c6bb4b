import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { systemClock, type Clock } from '../clock.js';
import { jobMachine, taskMachine, type JobState, type TaskState } from '../states.js';
import { EntityStore } from './entities.js';
import { EventLog } from './events.js';
import { Leases } from './lease.js';
import { looseRowSchema } from './rows.js';
import { tableNames } from './tables.js';
import { z } from 'zod';

export const JobKeyShape = { jobId: z.string() };
export const TaskKeyShape = { jobId: z.string(), taskId: z.string() };
export type JobKey = { jobId: string };
export type TaskKey = { jobId: string; taskId: string };

/**
 * Job and task attributes are owned by the services that write them: here the
 * store checks its own fields and the key, and the services read the rows
 * with their schemas (`withRows`, services/model/repo.ts).
 */
export type Attributes = Record<string, unknown>;

export type JobStore = EntityStore<JobState, JobKey, Attributes>;
export type TaskStore = EntityStore<TaskState, TaskKey, Attributes>;

/** All job state, in DynamoDB. */
export class Store {
  readonly jobs: JobStore;
  readonly tasks: TaskStore;
  readonly events: EventLog;
  readonly leases: Leases;

  constructor(ddb: DynamoDBDocumentClient, prefix: string, clock: Clock = systemClock) {
    const t = tableNames(prefix);
    this.jobs = new EntityStore(ddb, t.jobs, jobMachine, ['jobId'], clock, looseRowSchema(jobMachine, JobKeyShape));
    this.tasks = new EntityStore(ddb, t.tasks, taskMachine, ['jobId', 'taskId'], clock, looseRowSchema(taskMachine, TaskKeyShape));
    this.events = new EventLog(ddb, t.events, clock);
    this.leases = new Leases(ddb, t.leases, clock);
  }
}

export { EntityStore } from './entities.js';
export { EventLog, type JobEvent } from './events.js';
export { Leases } from './lease.js';
export { CorruptRowError, rowSchema } from './rows.js';
export { tableNames, tableDefinitions } from './tables.js';
