/** What the read model answers when there is nothing to show: an answer (404), not a failure to retry. */
import { PermanentError } from '../../shared/errors.js';

/** No such job, task or market summary. */
export class NotFound extends PermanentError {
  constructor(message: string) {
    super(message);
    this.name = 'NotFound';
  }
}
