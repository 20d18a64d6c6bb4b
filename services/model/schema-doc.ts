/** The job spec as JSON Schema, for editors (docs/job-spec.schema.json). */
import { z } from 'zod';
import { JobSpecSchema } from './spec.js';

export function jobSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(JobSpecSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    ...schema,
    title: 'spotbatch job spec',
    description: 'A batch job for spotbatch: tasks, the step they run, the instances they may use. See docs/job-spec.md.',
  };
}

export function jobSpecJsonSchemaText(): string {
  return `${JSON.stringify(jobSpecJsonSchema(), null, 2)}\n`;
}
