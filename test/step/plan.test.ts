import { expect } from 'chai';
import { parseJobSpec } from '../../services/model/spec.js';
import { planFiles } from '../../services/agent/agent-files.js';
import { planSteps } from '../../services/step/handlers.js';

describe('step/plan', function () {
  const spec = parseJobSpec({
    name: 'timeouts',
    tasks: { count: 1 },
    steps: [{ name: 'fetch', run: 'true', timeout: '90s' }, { run: 'true' }, { name: 'slow', run: 'true', timeout: '2h' }],
    instances: { types: ['m5.large'] },
    timeouts: { step: '10m' },
  });

  it("carries each step's own timeout into the plan; a step without one has none (the run's applies)", function () {
    expect(planSteps(spec)).to.deep.equal([
      { name: 'fetch', script: 'true', timeoutSeconds: 90 },
      { name: 'step-2', script: 'true' },
      { name: 'slow', script: 'true', timeoutSeconds: 7200 },
    ]);
  });

  it('writes STEP_TIMEOUT as the default and STEP_TIMEOUT_<n> only for steps that have their own', function () {
    const plan = { taskDir: '.spotbatch/tasks/j/0000/1', steps: planSteps(spec), env: {}, stepTimeoutSeconds: spec.timeouts.step, heartbeatSeconds: 5 };
    const config = planFiles(plan, '').files.find((f) => f.path === 'config.sh')!.content.split('\n');
    expect(config).to.include.members(['STEP_TIMEOUT=600', 'STEP_TIMEOUT_1=90', 'STEP_TIMEOUT_3=7200']);
    expect(config.filter((l) => l.startsWith('STEP_TIMEOUT_2='))).to.deep.equal([]);
  });
});
