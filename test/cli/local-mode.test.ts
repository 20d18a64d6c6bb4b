/** `spotbatch local` and `sim` load local mode on demand; a production install says in one line what it lacks. */
import { expect } from 'chai';
import { loadLocalMode } from '../../services/cli/local-mode.js';
import { UsageError } from '../../services/cli/errors.js';

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('loading local mode', () => {
  it('loads the local mode of a development install', async () => {
    const mode = await loadLocalMode('local');
    expect(mode.startLocal).to.be.a('function');
    expect(mode.startSimulator).to.be.a('function');
  });

  it('a package that is not installed (as Node reports it): one line that names it and says what install is needed', async () => {
    const missing = '@spotbatch/not-installed-anywhere';
    const err = await failure(loadLocalMode('local', () => import(missing)));
    expect(err).to.be.instanceOf(UsageError);
    expect(err.message).to.equal(
      `spotbatch local needs the development install (npm ci in the project, without --omit=dev): ${missing} is not installed here`,
    );
    expect(err.message).to.not.contain('\n');
    expect((err.cause as { code?: string }).code).to.equal('ERR_MODULE_NOT_FOUND');
  });

  it('any other failure while loading is not dressed up as a missing install', async () => {
    const boom = new Error('boom');
    expect(await failure(loadLocalMode('sim', () => Promise.reject(boom)))).to.equal(boom);
  });
});
