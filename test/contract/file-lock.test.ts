import { spawn } from 'node:child_process';
import path from 'node:path';
import { FileLock } from '../../src/election/file-lock.js';
import { ROOT, cleanup, tempDir } from '../helpers/cluster.js';
import { runLockContract } from './lock-contract.js';

const LEASE = 2000;

export function spawnHolderProcess(kind: 'file' | 'etcd', where: string, leaseMs: number, nodeId: string) {
  return new Promise<{ epoch: number; kill(): Promise<void> }>((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist/test/helpers/hold-lock.js'), kind, where, String(leaseMs), nodeId], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /epoch (\d+)/.exec(out);
      if (m)
        resolve({
          epoch: Number(m[1]),
          kill: () => new Promise<void>((r) => { p.once('exit', () => r()); p.kill('SIGKILL'); }),
        });
    });
    p.on('exit', (code) => reject(new Error(`holder exited ${code}: ${out}`)));
  });
}

runLockContract('file (proper-lockfile + epoch directory)', async () => {
  const dir = tempDir('stargate-lock-');
  return {
    leaseMs: LEASE,
    newLock: async () => new FileLock(dir, LEASE),
    spawnHolder: (id) => spawnHolderProcess('file', dir, LEASE, id),
    pass: (ms) => new Promise((r) => setTimeout(r, ms)),
    close: async () => {},
  };
});

process.on('exit', () => void cleanup());
