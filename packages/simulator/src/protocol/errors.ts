/** An error answered to the API caller in the AWS shape of its service. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const missingParameter = (name: string): ApiError =>
  new ApiError('MissingParameter', `The request must contain the parameter ${name}`);

export const invalidParameter = (name: string, detail: string): ApiError =>
  new ApiError('InvalidParameterValue', `Value for parameter ${name} is invalid: ${detail}`);

export const invalidCombination = (message: string): ApiError => new ApiError('InvalidParameterCombination', message);

/** Return the value or fail with MissingParameter naming the wire parameter. */
export function required<T>(value: T | undefined | null, name: string): T {
  if (value === undefined || value === null || (typeof value === 'string' && value === '')) throw missingParameter(name);
  return value;
}
