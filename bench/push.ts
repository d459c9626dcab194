/**
 * One-commit `git push` latency, round-robin over the setups so background
 * load on the machine hits them all alike. After each push to the async pair
 * we wait until its passive shows the new ref (that wait is the replication
 * lag figure), so no setup's push overlaps another's replication work.
 */
import { gitEnv, run } from '../test/helpers/cluster.js';
import type { Setup, SetupKey } from './setups.js';
import { readRef } from './setups.js';
import { sleep } from './stats.js';

export interface PushRun {
  latency: Partial<Record<SetupKey, number[]>>;
  failures: Partial<Record<SetupKey, number>>;
  /** Async pair: push acknowledged -> ref visible in the passive's repository, ms. */
  lag: number[];
  lagTimeouts: number;
  /** Sync pair: pushes whose ref the passive already held when the client got its answer. */
  syncVisibleAtAck: number;
  syncPushes: number;
}

/** Push `chain[i]` to refs/heads/main of `url` from the chain's repository. */
export function push(chainDir: string, url: string, sha: string, ref = 'refs/heads/main', timeoutMs = 60_000) {
  return run('git', ['push', '-q', url, `${sha}:${ref}`], { cwd: chainDir, env: gitEnv({ GIT_DIR: chainDir }), timeoutMs });
}

/** Poll a ref in a repository's files until it equals `oid`; ms waited, or null after `timeoutMs`. */
export async function waitRef(gitDir: string, ref: string, oid: string, timeoutMs: number): Promise<number | null> {
  const t0 = performance.now();
  for (;;) {
    if (readRef(gitDir, ref) === oid) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs) return null;
    await sleep(1);
  }
}

export async function pushLatency(setups: Setup[], chain: { dir: string; shas: string[] }, warmup: number, rounds: number, say: (s: string) => void): Promise<PushRun> {
  const out: PushRun = { latency: {}, failures: {}, lag: [], lagTimeouts: 0, syncVisibleAtAck: 0, syncPushes: 0 };
  for (const s of setups) {
    out.latency[s.key] = [];
    out.failures[s.key] = 0;
  }
  const total = warmup + rounds;
  if (chain.shas.length < total) throw new Error(`chain too short: ${chain.shas.length} < ${total}`);
  for (let i = 0; i < total; i++) {
    const sha = chain.shas[i];
    for (let j = 0; j < setups.length; j++) {
      const s = setups[(i + j) % setups.length]; // rotate who goes first
      const r = await push(chain.dir, s.url('kv'), sha);
      if (r.code !== 0) {
        out.failures[s.key]!++;
        say(`push to ${s.key} failed: ${r.stderr.trim().slice(0, 300)}`);
        continue;
      }
      if (i >= warmup) out.latency[s.key]!.push(r.ms);
      const passive = s.gitDirs('kv')[1];
      if (s.key === 'async' && passive) {
        const lag = await waitRef(passive, 'refs/heads/main', sha, 10_000);
        if (i < warmup) continue;
        if (lag === null) out.lagTimeouts++;
        else out.lag.push(lag);
      } else if (s.key === 'sync' && passive && i >= warmup) {
        out.syncPushes++;
        if (readRef(passive, 'refs/heads/main') === sha) out.syncVisibleAtAck++;
      }
    }
    if ((i + 1) % 50 === 0) say(`pushes: ${i + 1}/${total} rounds`);
  }
  return out;
}
