import type { ServeConfig } from '../config.js';
import { EtcdLock, parseEtcdUrl } from './etcd-lock.js';
import { FileLock } from './file-lock.js';
import type { LeaderLock } from './lock.js';

/** The lock backend named by the configuration: a shared directory, or etcd with --lock etcd://…. */
export async function createLock(cfg: ServeConfig): Promise<LeaderLock> {
  if (cfg.lock === null) return new FileLock(cfg.sharedDir, cfg.leaseMs);
  const { endpoints, prefix } = parseEtcdUrl(cfg.lock);
  return new EtcdLock(endpoints, cfg.leaseMs, { prefix });
}
