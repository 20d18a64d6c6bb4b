/** `npm run docs:gen`: regenerate the docs that are derived from code. */
import { readFileSync, writeFileSync } from 'node:fs';
import { jobSpecJsonSchemaText } from '../services/model/schema-doc.js';
import { withServicesTable } from '../services/catalog-doc.js';

writeFileSync(new URL('../docs/job-spec.schema.json', import.meta.url), jobSpecJsonSchemaText());
const messages = new URL('../docs/messages.md', import.meta.url);
writeFileSync(messages, withServicesTable(readFileSync(messages, 'utf8')));
console.log('wrote docs/job-spec.schema.json and the services table of docs/messages.md');
