/**
 * Child process for the stale-lock race: on each "go" line from stdin, try to
 * take the lease on DIR; on "check", report whether we would accept a push
 * (lease held and our epoch the highest: the pre-receive rule); on "drop",
 * let go. argv: DIR LEASE_MS NODE_ID
 */
import readline from 'node:readline';
import { FileLock } from '../../src/election/file-lock.js';
import type { Lease } from '../../src/election/lock.js';

const [dir, leaseArg, nodeId] = process.argv.slice(2);
let lock: FileLock | null = null;
let lease: Lease | null = null;
const say = (o: object) => process.stdout.write(JSON.stringify({ node: nodeId, ...o }) + '\n');

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line === 'go') {
    lock = new FileLock(dir, Number(leaseArg));
    lease = await lock.tryAcquire({ nodeId, url: `http://${nodeId}.invalid` }).catch(() => null);
    say({ acquired: !!lease, epoch: lease?.epoch ?? null });
  } else if (line === 'check') {
    const top = await lock!.currentEpoch();
    say({ writer: !!lease && lease.epoch === top, epoch: lease?.epoch ?? null, top });
  } else if (line === 'drop') {
    if (lease) await lock!.release(lease).catch(() => {});
    lease = null;
    say({ dropped: true });
  }
}
