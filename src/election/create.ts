import type { ServeConfig } from '../config.js';
import { FileLock } from './file-lock.js';
import type { LeaderLock } from './lock.js';
import { ConfigError } from '../errors.js';

/** The lock backend named by the configuration. */
export async function createLock(cfg: ServeConfig): Promise<LeaderLock> {
  if (cfg.lock === null) return new FileLock(cfg.sharedDir, cfg.leaseMs);
  throw new ConfigError(`--lock ${cfg.lock}: the etcd backend is not available in this build`);
}
