import { expect } from 'chai';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { conditionFailureItem, isConditionFailed } from '../../shared/store/marshal.js';

/** The row DynamoDB sends with a failed condition (ReturnValuesOnConditionCheckFailure: ALL_OLD), read from the SDK's own exception. */
describe('store: the current row of a failed condition', () => {
  it('unmarshalls the Item a ConditionalCheckFailedException carries', () => {
    const err = new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
      Item: {
        jobId: { S: 'job-1' },
        state: { S: 'running' },
        version: { N: '7' },
        spec: { M: { tags: { M: { constructor: { S: 'c' } } } } },
        avoid: { L: [{ S: 'us-east-1a/m5.large' }] },
      },
    });
    expect(isConditionFailed(err)).to.equal(true);
    expect(conditionFailureItem(err)).to.deep.equal({ jobId: 'job-1', state: 'running', version: 7, spec: { tags: { constructor: 'c' } }, avoid: ['us-east-1a/m5.large'] });
  });

  it('has no row when the exception carries none, or for any other error', () => {
    expect(conditionFailureItem(new ConditionalCheckFailedException({ message: 'no row', $metadata: {} }))).to.equal(undefined);
    expect(conditionFailureItem(new Error('ConditionalCheckFailedException'))).to.equal(undefined);
    expect(isConditionFailed(new Error('other'))).to.equal(false);
  });
});
