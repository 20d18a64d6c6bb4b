/** `npm run docs:gen`: regenerate the docs that are derived from code. */
import { writeFileSync } from 'node:fs';
import { jobSpecJsonSchemaText } from '../services/job/schema-doc.js';

writeFileSync(new URL('../docs/job-spec.schema.json', import.meta.url), jobSpecJsonSchemaText());
console.log('wrote docs/job-spec.schema.json');
