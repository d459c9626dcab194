import type { ServeConfig } from '../config.js';
import { FileLock } from './file-lock.js';
import type { LeaderLock } from './lock.js';

/** The lock backend named by the configuration: a shared directory, or etcd with --lock etcd://…. */
export async function createLock(cfg: ServeConfig): Promise<LeaderLock> {
  if (cfg.lock === null) return new FileLock(cfg.sharedDir, cfg.leaseMs);
  // The etcd client (gRPC, protobuf) adds ~30 MB to the process, and every git
  // process the node starts forks that memory: load it only when asked for.
  const { EtcdLock, parseEtcdUrl } = await import('./etcd-lock.js');
  const { endpoints, prefix } = parseEtcdUrl(cfg.lock);
  return new EtcdLock(endpoints, cfg.leaseMs, { prefix });
}
