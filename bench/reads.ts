/**
 * Read paths, round-robin over the setups: a full clone of the large
 * repository (bare, so the client's checkout is not timed) and ref listing
 * on the repository with 50,000 refs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { git, gitEnv, run, tempDir } from '../test/helpers/cluster.js';
import type { Setup, SetupKey } from './setups.js';

export async function cloneTimes(setups: Setup[], rounds: number, say: (s: string) => void): Promise<Partial<Record<SetupKey, number[]>>> {
  const out: Partial<Record<SetupKey, number[]>> = {};
  const scratch = tempDir('stargate-bench-clone-');
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < setups.length; j++) {
      const s = setups[(i + j) % setups.length];
      const dir = path.join(scratch, `${s.key}-${i}.git`);
      const r = await run('git', ['clone', '-q', '--bare', s.url('big'), dir], { env: gitEnv(), timeoutMs: 600_000 });
      fs.rmSync(dir, { recursive: true, force: true });
      if (r.code !== 0) {
        say(`clone from ${s.key} failed: ${r.stderr.trim().slice(0, 300)}`);
        continue;
      }
      (out[s.key] ??= []).push(r.ms);
    }
    say(`clones: round ${i + 1}/${rounds}`);
  }
  return out;
}

/** What one round of the ref-listing benchmark runs, by name. */
export const REF_OPS = {
  /** every ref (50,001 lines), protocol v2 */
  ls_remote_all: (url: string) => ['-c', 'protocol.version=2', 'ls-remote', url],
  /** `--tags`: v2 sends ref-prefix refs/tags/ (25,000 refs) */
  ls_remote_tags: (url: string) => ['-c', 'protocol.version=2', 'ls-remote', '--tags', url],
  /** fetch one branch into a repository that has it: v2 ref-prefix narrows the listing to 1 ref */
  fetch_one_v2: (url: string) => ['-c', 'protocol.version=2', 'fetch', '-q', '--no-tags', url, '+refs/heads/feature/01234:refs/remotes/o/x'],
  /** the same fetch over protocol v0: the server advertises all 50,001 refs first */
  fetch_one_v0: (url: string) => ['-c', 'protocol.version=0', 'fetch', '-q', '--no-tags', url, '+refs/heads/feature/01234:refs/remotes/o/x'],
} as const;
export type RefOp = keyof typeof REF_OPS;

export async function refTimes(setups: Setup[], rounds: number, say: (s: string) => void): Promise<Partial<Record<SetupKey, Record<RefOp, number[]>>>> {
  const out: Partial<Record<SetupKey, Record<RefOp, number[]>>> = {};
  const repos = new Map<SetupKey, string>();
  for (const s of setups) {
    const d = path.join(tempDir('stargate-bench-refs-'), 'client.git');
    await git(['init', '-q', '--bare', d]);
    const first = await run('git', REF_OPS.fetch_one_v2(s.url('refs')), { cwd: d, env: gitEnv({ GIT_DIR: d }) });
    if (first.code !== 0) throw new Error(`fetch from ${s.key} failed: ${first.stderr}`);
    repos.set(s.key, d);
    out[s.key] = { ls_remote_all: [], ls_remote_tags: [], fetch_one_v2: [], fetch_one_v0: [] };
  }
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < setups.length; j++) {
      const s = setups[(i + j) % setups.length];
      const d = repos.get(s.key)!;
      for (const op of Object.keys(REF_OPS) as RefOp[]) {
        const r = await run('git', REF_OPS[op](s.url('refs')), { cwd: d, env: gitEnv({ GIT_DIR: d }), timeoutMs: 120_000 });
        if (r.code !== 0) say(`${op} on ${s.key} failed: ${r.stderr.trim().slice(0, 300)}`);
        else out[s.key]![op].push(r.ms);
      }
    }
  }
  say(`ref listing: ${rounds} rounds`);
  return out;
}
