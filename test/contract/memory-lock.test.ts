import { MemoryLock, MemoryLockStore } from '../../src/election/memory-lock.js';
import { FakeClock } from '../../src/util/clock.js';
import { runLockContract } from './lock-contract.js';

const LEASE = 3000;

runLockContract('memory (fake clock)', async () => {
  const clock = new FakeClock();
  const store = new MemoryLockStore(clock);
  return {
    leaseMs: LEASE,
    newLock: async () => new MemoryLock(store, LEASE),
    // A memory holder "dies" by simply never renewing again.
    spawnHolder: async (id) => {
      const lease = await new MemoryLock(store, LEASE).tryAcquire({ nodeId: id, url: `http://${id}.invalid` });
      return { epoch: lease!.epoch, kill: async () => {} };
    },
    pass: async (ms) => clock.advance(ms),
    close: async () => {},
  };
});
