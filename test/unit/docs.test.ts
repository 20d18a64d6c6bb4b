import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { ENV_SETTINGS } from '../../shared/config.js';
import { jobMachine, mermaidOf, taskMachine } from '../../shared/states.js';

const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

describe('docs stay true to the code', () => {
  it('docs/architecture.md draws the job and task state tables as they are in shared/states.ts', () => {
    const doc = read('docs/architecture.md');
    expect(doc).to.contain(mermaidOf(jobMachine));
    expect(doc).to.contain(mermaidOf(taskMachine));
  });

  it('docs/operations.md lists every environment variable the configuration reads', () => {
    const doc = read('docs/operations.md');
    for (const s of ENV_SETTINGS) expect(doc, s.env).to.contain(`| \`${s.env}\` | \`${s.path.join('.')}\` |`);
  });

  it('the README shows the two commands', () => {
    const readme = read('README.md');
    expect(readme).to.contain('npm ci && npm start');
    expect(readme).to.contain('npm test');
  });
});

describe('docs/job-spec.schema.json', () => {
  it('is the schema generated from the job spec (npm run docs:gen)', async () => {
    const { jobSpecJsonSchemaText } = await import('../../services/model/schema-doc.js');
    expect(read('docs/job-spec.schema.json')).to.equal(jobSpecJsonSchemaText());
  });
});

describe('docs/messages.md', () => {
  it('has the services table of the catalogue (npm run docs:gen)', async () => {
    const { withServicesTable } = await import('../../services/catalog-doc.js');
    const doc = read('docs/messages.md');
    expect(doc).to.equal(withServicesTable(doc));
  });
});
