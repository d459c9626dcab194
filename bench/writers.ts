/**
 * N concurrent writers, each pushing its own pre-built commits to its own
 * branch as fast as the server acknowledges them. One setup at a time; each
 * writer stops after its commits or at the deadline, whichever comes first.
 */
import { push } from './push.js';
import type { Setup } from './setups.js';

export interface WritersRun {
  writers: number;
  acked: number;
  failed: number;
  seconds: number;
  txn_per_s: number;
  latency: number[];
}

export async function concurrentWriters(s: Setup, chains: Array<{ dir: string; shas: string[] }>, perWriter: number, deadlineMs: number): Promise<WritersRun> {
  const latency: number[] = [];
  let acked = 0;
  let failed = 0;
  const t0 = performance.now();
  const stopAt = t0 + deadlineMs;
  await Promise.all(
    chains.map(async (ch, w) => {
      for (let i = 0; i < perWriter && performance.now() < stopAt; i++) {
        const r = await push(ch.dir, s.url('kv'), ch.shas[i], `refs/heads/writer-${w}`);
        if (r.code === 0) {
          acked++;
          latency.push(r.ms);
        } else failed++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  return { writers: chains.length, acked, failed, seconds: Math.round(seconds * 100) / 100, txn_per_s: Math.round((acked / seconds) * 10) / 10, latency };
}
