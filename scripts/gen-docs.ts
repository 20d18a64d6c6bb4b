/** `npm run docs:gen`: regenerate the docs that are derived from code. */
import { readFileSync, writeFileSync } from 'node:fs';
import { jobSpecJsonSchemaText } from '../services/model/schema-doc.js';
import { withServicesTable } from '../services/catalog-doc.js';
import { POLICY_FILES, policyText, withTemplatePolicies } from './iam-policy.js';

writeFileSync(new URL('../docs/job-spec.schema.json', import.meta.url), jobSpecJsonSchemaText());
const messages = new URL('../docs/messages.md', import.meta.url);
writeFileSync(messages, withServicesTable(readFileSync(messages, 'utf8')));
console.log('wrote docs/job-spec.schema.json and the services table of docs/messages.md');
// The deployed programs' IAM policies, derived from the code (scripts/iam-actions.ts), and their copies in the template.
for (const [program, file] of Object.entries(POLICY_FILES)) writeFileSync(new URL(`../${file}`, import.meta.url), policyText(program as keyof typeof POLICY_FILES));
const template = new URL('../deploy/cloudformation.yaml', import.meta.url);
writeFileSync(template, withTemplatePolicies(readFileSync(template, 'utf8')));
console.log(`wrote ${Object.values(POLICY_FILES).join(', ')} and their copies in deploy/cloudformation.yaml`);
