/**
 * Child process for the lock contract: takes the lease on the backend given
 * in argv, prints its epoch, renews until killed (never releases).
 * argv: file DIR LEASE_MS NODE_ID | etcd ENDPOINTS LEASE_MS NODE_ID
 */
import { FileLock } from '../../src/election/file-lock.js';
import type { LeaderLock } from '../../src/election/lock.js';

const [kind, where, leaseArg, nodeId] = process.argv.slice(2);
const leaseMs = Number(leaseArg);
let lock: LeaderLock;
if (kind === 'file') lock = new FileLock(where, leaseMs);
else {
  const { EtcdLock } = await import('../../src/election/etcd-lock.js' as string);
  lock = new EtcdLock(where.split(','), leaseMs);
}
// A busy machine can make the very first call of a fresh process miss its deadline: retry briefly.
let lease: Awaited<ReturnType<LeaderLock['tryAcquire']>> = null;
for (let attempt = 1; ; attempt++) {
  try {
    lease = await lock.tryAcquire({ nodeId, url: `http://${nodeId}.invalid` });
    break;
  } catch (err) {
    if (attempt >= 10) throw err;
    process.stderr.write(`hold-lock: ${(err as Error).message}; retrying\n`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
if (!lease) {
  process.stdout.write('busy\n');
  process.exit(3);
}
process.stdout.write(`epoch ${lease.epoch}\n`);
setInterval(() => void lock.renew(lease).catch(() => {}), Math.floor(leaseMs / 3));
