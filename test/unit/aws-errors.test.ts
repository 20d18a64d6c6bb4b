import { expect } from 'chai';
import { IllegalTransitionError, PermanentError, ProgrammingError, SpotbatchError, TransientError, ValidationError } from '../../shared/errors.js';
import { AWS_ERROR_CODES, AwsCallError, awsVerdict, isRetryable, isThrottled, translateAwsError } from '../../shared/aws-errors.js';
import { HostKeyMismatchError } from '../../services/ssh/errors.js';
import { UsageError } from '../../services/cli/errors.js';

/** An error shaped as the SDK throws them. */
function sdkError(name: string, message: string, fault: 'client' | 'server', status = 400): Error {
  return Object.assign(new Error(message), { name, $fault: fault, $metadata: { httpStatusCode: status, requestId: 'req-1' } });
}

describe('AWS errors: one translator (shared/aws-errors.ts)', () => {
  it('the table: throttling, service trouble, DependencyViolation and a NotFound right after a create are transient', () => {
    for (const code of ['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'SlowDown', 'DependencyViolation', 'ConcurrentModification', 'InvalidGroup.NotFound', 'IncorrectState']) {
      expect(AWS_ERROR_CODES[code], code).to.equal('transient');
      // ...even when AWS sends them as a client fault (4xx), as EC2 does
      const err = translateAwsError('X', sdkError(code, 'try later', 'client'));
      expect(err, code).to.be.instanceOf(TransientError);
      expect(err.retryable, code).to.equal(true);
      expect(isRetryable(sdkError(code, 'try later', 'client')), code).to.equal(true);
    }
  });

  it('the table: refusals are permanent, whatever the status; unlisted client faults are permanent, server faults transient', () => {
    for (const code of ['UnauthorizedOperation', 'AccessDenied', 'InvalidParameterValue', 'LimitExceeded']) {
      expect(AWS_ERROR_CODES[code], code).to.equal('permanent');
      expect(translateAwsError('X', sdkError(code, 'no', 'client')), code).to.be.instanceOf(PermanentError);
      expect(isRetryable(sdkError(code, 'no', 'client')), code).to.equal(false);
    }
    expect(translateAwsError('X', sdkError('InvalidKeyPair.Duplicate', 'taken', 'client'))).to.be.instanceOf(PermanentError);
    expect(translateAwsError('X', sdkError('InternalError', 'oops', 'server', 500))).to.be.instanceOf(TransientError);
    expect(translateAwsError('X', sdkError('SomethingNew', 'oops', 'server', 503))).to.be.instanceOf(TransientError);
    // a code that merely looks like throttling is throttling
    expect(translateAwsError('X', sdkError('TooManyRequestsException2', 'slow', 'client', 429))).to.be.instanceOf(TransientError);
    expect(isThrottled(sdkError('RequestLimitExceeded', 'slow', 'client'))).to.equal(true);
    expect(isThrottled(sdkError('SlowDown', 'slow', 'client', 503))).to.equal(true);
    expect(isThrottled(sdkError('DependencyViolation', 'in use', 'client'))).to.equal(false);
    // no fault named: by the status
    const bare = (status: number) => Object.assign(new Error('x'), { name: 'Odd', $metadata: { httpStatusCode: status } });
    expect(awsVerdict(bare(404))).to.equal('permanent');
    expect(awsVerdict(bare(502))).to.equal('transient');
  });

  it('no answer from the service (no AWS code) is transient; ours pass through as they are', () => {
    expect(translateAwsError('X', new Error('socket hang up'))).to.be.instanceOf(TransientError);
    expect(isRetryable(new Error('socket hang up'))).to.equal(true);
    const ours = new PermanentError('mine');
    expect(translateAwsError('X', ours)).to.equal(ours);
  });

  it('names the action and the code, redacts access key ids, and never attaches the SDK error', () => {
    const raw = Object.assign(sdkError('InvalidParameterValue', 'bad value for AKIAABCDEFGHIJKLMNOP', 'client'), { $response: { body: 'KeyMaterial' } });
    const err = translateAwsError('CreateKeyPair', raw);
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.message).to.equal('CreateKeyPair: InvalidParameterValue: bad value for [redacted]');
    expect(err.cause).to.not.equal(raw);
    expect(err.cause).to.be.instanceOf(AwsCallError);
    expect(err.cause).to.include({ code: 'InvalidParameterValue', httpStatusCode: 400, requestId: 'req-1' });
    expect(JSON.stringify(err.cause)).to.not.include('KeyMaterial');
    expect(translateAwsError('AddRoleToInstanceProfile', sdkError('LimitExceeded', 'quota', 'client', 409))).to.be.instanceOf(PermanentError);
  });

  it('every error class derives from SpotbatchError and says whether retrying helps', () => {
    const all: SpotbatchError[] = [
      new PermanentError('p'),
      new TransientError('t'),
      new ValidationError('v', [{ path: 'a', rule: 'b' }]),
      new ProgrammingError('bug'),
      new IllegalTransitionError('job', 'submitted', 'succeeded'),
      new AwsCallError('Throttling', 400, 'r', true),
      new HostKeyMismatchError('h', 'a', 'b'),
      new UsageError('bad flag'),
    ];
    for (const e of all) {
      expect(e, e.name).to.be.instanceOf(SpotbatchError);
      expect(e.retryable, e.name).to.be.a('boolean');
    }
    const illegal = new IllegalTransitionError('job', 'submitted', 'succeeded');
    expect(illegal).to.be.instanceOf(ProgrammingError);
    expect(illegal.retryable).to.equal(false);
    expect(isRetryable(illegal)).to.equal(false);
    expect(illegal.message).to.equal('job: submitted -> succeeded is not an allowed transition');
  });
});
