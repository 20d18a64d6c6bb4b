/** The simulator's own test plumbing: the shared harness (src/testing.ts) and what only these tests use. */
export { credentials, startHarness, waitFor, type Harness } from '../src/testing.js';

/** The error an SDK call throws (fails the test when it succeeds). */
export async function errorOf(p: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { $metadata?: { httpStatusCode?: number } };
  }
  throw new Error('expected the call to fail');
}
