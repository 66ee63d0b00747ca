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

/**
 * A fault worth retrying (throttling, a 5xx, a dropped stream): the orchestrator retries it with back-off. Only the
 * message crosses the Durable boundary, so a server's Retry-After travels in it (`… (retry after 7 s)`) and
 * `retryAfterFrom` reads it back on the other side.
 */
export class TransientError extends SnatDoctorError {
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    const wait = options.retryAfterSeconds;
    super('TRANSIENT', wait === undefined ? message : `${message} (retry after ${wait} s)`, { cause: options.cause });
    this.name = 'TransientError';
    this.retryAfterSeconds = wait;
  }
}

/** The Retry-After a TransientError carried across the Durable boundary, in seconds. */
export function retryAfterFrom(message: string): number | undefined {
  const match = /\(retry after (\d+) s\)/.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** An expected failure, as data that crosses the Durable boundary. */
export interface StepFailure {
  ok: false;
  code: ErrorCode;
  message: string;
  /** For a transient fault returned as data (fanned-out steps): the server's Retry-After, when it said. */
  retryAfterSeconds?: number;
}

export type StepResult<T> = { ok: true; value: T } | StepFailure;

export function failure(code: ErrorCode, message: string): StepFailure {
  return { ok: false, code, message };
}

/**
 * The one normaliser at the activity edge: transient faults are rethrown (the orchestrator retries the activity),
 * unless `transientAsData` — for fanned-out steps, whose batch must not fail fast on one pod's fault: those come back
 * as TRANSIENT data and the orchestrator retries just those.
 */
export function toStepFailure(error: unknown, options: { transientAsData?: boolean } = {}): StepFailure {
  if (error instanceof TransientError) {
    if (!options.transientAsData) throw error;
    return {
      ...failure('TRANSIENT', error.message),
      ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    };
  }
  if (error instanceof SnatDoctorError) return failure(error.code, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return failure('INTERNAL', message);
}
