/**
 * Errors with a stable code. The code is what callers and tests match on; the message tells the user what
 * happened and what to do; the API maps the code to an HTTP status and Docker's `{"message": ...}` shape.
 */

export const ERROR_STATUS = {
  invalid_argument: 400,
  not_found: 404,
  conflict: 409,
  /** Docker answers 503 when the node is not part of a swarm, or not a manager. */
  unavailable: 503,
  engine_unreachable: 502,
  engine_error: 500,
  corrupt_state: 500,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class SwarmletError extends Error {
  readonly code: ErrorCode;
  override readonly cause?: unknown;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message);
    this.name = 'SwarmletError';
    this.code = code;
    this.cause = options.cause;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const invalidArgument = (message: string, cause?: unknown) => new SwarmletError('invalid_argument', message, { cause });
export const notFound = (message: string) => new SwarmletError('not_found', message);
export const conflict = (message: string) => new SwarmletError('conflict', message);
export const unavailable = (message: string) => new SwarmletError('unavailable', message);

/** A message fit for one line of output, whatever was thrown. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
