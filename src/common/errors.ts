/**
 * The one error table. Codes are stable and travel on the wire; messages may change.
 * Families follow TubeMQ's `TErrCodeConstants` where one exists (see DESIGN.md §5).
 */
export const errorTable = {
  OFFSET_OUT_OF_RANGE: { code: 301, retriable: false, message: 'offset is outside the stored range' },
  BAD_REQUEST: { code: 400, retriable: false, message: 'malformed request' },
  UNAUTHORIZED: { code: 401, retriable: false, message: 'authentication required' },
  FORBIDDEN: { code: 403, retriable: false, message: 'operation not permitted' },
  NOT_FOUND: { code: 404, retriable: false, message: 'not found' },
  ALREADY_EXISTS: { code: 409, retriable: false, message: 'already exists' },
  PARTITION_OWNED_BY_OTHER: { code: 410, retriable: true, message: 'partition is owned by another consumer' },
  NOT_REGISTERED: { code: 411, retriable: true, message: 'consumer is not registered' },
  MESSAGE_TOO_LARGE: { code: 413, retriable: false, message: 'message is larger than the limit' },
  GROUP_NOT_EMPTY: { code: 423, retriable: false, message: 'the consumer group has live members' },
  GROUP_MISMATCH: {
    code: 425,
    retriable: false,
    message: "the member's topics, filters or mode differ from the group's",
  },
  STALE_SESSION: { code: 427, retriable: false, message: 'the group has moved on to a newer session key' },
  BUSY: { code: 419, retriable: true, message: 'cache is full, retry' },
  NOT_LEADER: { code: 421, retriable: true, message: 'this master is not the leader' },
  RATE_LIMITED: { code: 452, retriable: true, message: 'rate limited' },
  INTERNAL: { code: 500, retriable: true, message: 'internal error' },
  UNAVAILABLE: { code: 503, retriable: true, message: 'service unavailable' },
  STORAGE_FULL: { code: 507, retriable: true, message: 'storage is full' },
} as const satisfies Record<string, { code: number; retriable: boolean; message: string }>;

/** The stable name of an error in {@link errorTable}. */
export type ErrorName = keyof typeof errorTable;

/** Extra options carried by a {@link TubeError}. */
export interface TubeErrorOptions {
  /** Structured facts a caller may act on, e.g. `{earliest, latest}` for OFFSET_OUT_OF_RANGE. */
  details?: Record<string, unknown>;
  /** One line telling a person what to do about it (the CLI prints it as `hint:`). */
  hint?: string;
  /** The lower-level error this one wraps. */
  cause?: unknown;
}

/** An error with a stable numeric code from {@link errorTable}. */
export class TubeError extends Error {
  /** The stable name, e.g. `NOT_FOUND`. */
  readonly errorName: ErrorName;
  /** The stable numeric code sent on the wire, e.g. 404. */
  readonly code: number;
  /** Whether the same request may succeed if retried. */
  readonly retriable: boolean;
  readonly details: Readonly<Record<string, unknown>>;
  readonly hint: string | undefined;

  constructor(errorName: ErrorName, message?: string, options: TubeErrorOptions = {}) {
    const row = errorTable[errorName];
    super(message ?? row.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TubeError';
    this.errorName = errorName;
    this.code = row.code;
    this.retriable = row.retriable;
    this.details = options.details ?? {};
    this.hint = options.hint;
  }
}

const nameByCode = new Map<number, ErrorName>(
  (Object.keys(errorTable) as ErrorName[]).map((name) => [errorTable[name].code, name]),
);

/** The error name for a wire code, or `INTERNAL` for a code this version does not know. */
export function errorNameForCode(code: number): ErrorName {
  return nameByCode.get(code) ?? 'INTERNAL';
}

/** Whether `error` is a {@link TubeError}, optionally of the given name. */
export function isTubeError(error: unknown, errorName?: ErrorName): error is TubeError {
  return error instanceof TubeError && (errorName === undefined || error.errorName === errorName);
}
