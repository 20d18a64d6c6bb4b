/** What a task's reason says when the agent stopped a step at its timeout: the step by number, and by name when it has one. */
import { expect } from 'chai';
import { endedBy } from '../../services/step/handlers.js';

describe('step timeout reason', () => {
  const steps = [{ run: 'true' }, { name: 'fetch-data', run: 'sleep 120' }];

  it('names a named step by its name as well as its number', () => {
    expect(endedBy(steps, 124, { step: 2, seconds: 1 })).to.equal('step 2 (fetch-data) timed out after 1 s (exit code 124)');
  });

  it('an unnamed step by its number; no timeout: the exit code', () => {
    expect(endedBy(steps, 124, { step: 1, seconds: 30 })).to.equal('step 1 timed out after 30 s (exit code 124)');
    expect(endedBy(steps, 3)).to.equal('exit code 3');
    // A step number the spec does not have (a stale report): the number alone.
    expect(endedBy(steps, 124, { step: 9, seconds: 5 })).to.equal('step 9 timed out after 5 s (exit code 124)');
  });
});
