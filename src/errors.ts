/**
 * Typed errors. Every error Stargate raises on purpose carries a literal `code`
 * so callers (and tests) can branch on it without parsing messages.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'NOT_LEADER'
  | 'LOCK_UNAVAILABLE'
  | 'LOCK_LOST'
  | 'REPO_NOT_FOUND'
  | 'REPO_NAME_INVALID'
  | 'AUTH_FILE_INVALID'
  | 'GIT_FAILED'
  | 'REPLICATION_FAILED'
  | 'SYNC_REFUSED';

export class StargateError extends Error {
  readonly code: ErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'StargateError';
    this.code = code;
    this.data = data;
  }
}

export class ConfigError extends StargateError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('CONFIG_INVALID', message, data);
    this.name = 'ConfigError';
  }
}

/** The lock backend could not be reached or answered with an error (not "someone else holds it"). */
export class LockUnavailableError extends StargateError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('LOCK_UNAVAILABLE', message, data);
    this.name = 'LockUnavailableError';
  }
}

/** Our lease is no longer ours (taken over, compromised or fenced by a newer epoch). */
export class LockLostError extends StargateError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('LOCK_LOST', message, data);
    this.name = 'LockLostError';
  }
}

export class GitError extends StargateError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('GIT_FAILED', message, data);
    this.name = 'GitError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
