/**
 * git-kv errors. Each kind has a literal `code` and the exit status the CLI
 * returns for it (DESIGN.md "CLI": 0 ok · 2 CAS conflict · 3 policy violation ·
 * 4 invalid key · 5 IO/git error · 7 expired · 8 attestation mismatch ·
 * 9 not leader · 10 mirror timeout · 11 sync refused). 1 = key not found and
 * 64 = usage error are ours: the table leaves them free.
 */
export type KvErrorCode =
  | 'KV_NOT_FOUND'
  | 'KV_CAS_CONFLICT'
  | 'KV_POLICY'
  | 'KV_INVALID_KEY'
  | 'KV_IO'
  | 'KV_BAD_INPUT'
  | 'KV_ATTESTATION'
  | 'KV_NOT_LEADER'
  | 'KV_MIRROR_TIMEOUT'
  | 'KV_SYNC_REFUSED'
  | 'KV_USAGE';

export const EXIT_CODES: Record<KvErrorCode, number> = {
  KV_NOT_FOUND: 1,
  KV_CAS_CONFLICT: 2,
  KV_POLICY: 3,
  KV_INVALID_KEY: 4,
  KV_IO: 5,
  KV_BAD_INPUT: 5,
  KV_ATTESTATION: 8,
  KV_NOT_LEADER: 9,
  KV_MIRROR_TIMEOUT: 10,
  KV_SYNC_REFUSED: 11,
  KV_USAGE: 64,
};

export class KvError extends Error {
  readonly code: KvErrorCode;
  readonly data: Record<string, unknown>;
  constructor(code: KvErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'KvError';
    this.code = code;
    this.data = data;
  }
  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

export class InvalidKeyError extends KvError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('KV_INVALID_KEY', message, data);
    this.name = 'InvalidKeyError';
  }
}

export class CasConflictError extends KvError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('KV_CAS_CONFLICT', message, data);
    this.name = 'CasConflictError';
  }
}

export class NotFoundError extends KvError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('KV_NOT_FOUND', message, data);
    this.name = 'NotFoundError';
  }
}

/** A batch file or other user input that cannot be read as documented. */
export class BadInputError extends KvError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('KV_BAD_INPUT', message, data);
    this.name = 'BadInputError';
  }
}

/** The server refused the push; `code` says why (policy, attestation, not leader, ...). */
export class PushRefusedError extends KvError {
  constructor(code: KvErrorCode, message: string, data: Record<string, unknown> = {}) {
    super(code, message, data);
    this.name = 'PushRefusedError';
  }
}
