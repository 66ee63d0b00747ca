// A small vocabulary of coded errors. Codes are stable (tests and Slack messages key on them); messages say how to
// fix the problem. Custom classes do not survive the Durable boundary, so activities turn expected failures into
// `StepFailure` data and throw only `TransientError` (which the orchestrator retries).

export type ErrorCode =
  | 'BAD_ARGUMENT'
  | 'BAD_SCENARIO'
  | 'CLUSTER_NOT_FOUND'
  | 'NODE_NOT_FOUND'
  | 'NO_METRICS'
  | 'RUN_COMMAND_DISABLED'
  | 'RUN_COMMAND_FAILED'
  | 'PROBE_FAILED'
  | 'EXEC_FAILED'
  | 'FORBIDDEN'
  | 'NOT_BUILT'
  | 'TRANSIENT'
  | 'INTERNAL';

export class SnatDoctorError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'SnatDoctorError';
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** A fault worth retrying (throttling, a 5xx, a dropped stream): the orchestrator retries it with back-off. */
export class TransientError extends SnatDoctorError {
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super('TRANSIENT', message, { cause: options.cause });
    this.name = 'TransientError';
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** An expected failure, as data that crosses the Durable boundary. */
export interface StepFailure {
  ok: false;
  code: ErrorCode;
  message: string;
}

export type StepResult<T> = { ok: true; value: T } | StepFailure;

export function failure(code: ErrorCode, message: string): StepFailure {
  return { ok: false, code, message };
}

/** The one normaliser at the activity edge: transient faults are rethrown, everything else becomes data. */
export function toStepFailure(error: unknown): StepFailure {
  if (error instanceof TransientError) throw error;
  if (error instanceof SnatDoctorError) return failure(error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return failure('INTERNAL', message);
}
