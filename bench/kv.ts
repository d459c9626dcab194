/**
 * `git kv` end to end, as a user runs it: `git kv set` (one transaction: fetch
 * the ledger tips, build two commits, push --atomic) round-robin over the
 * setups, and one `git kv mset` of 10,000 keys per setup. The client is a
 * Node program, so every call includes a Node start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GIT_KV, git, gitEnv, run, tempDir } from '../test/helpers/cluster.js';
import type { Setup, SetupKey } from './setups.js';

export const kvAvailable = () => fs.existsSync(GIT_KV);

async function clientFor(s: Setup): Promise<string> {
  const d = path.join(tempDir('stargate-bench-kv-'), 'client');
  await git(['init', '-q', d]);
  await git(['remote', 'add', 'origin', s.url('kv')], d);
  return d;
}

const kv = (dir: string, args: string[]) => run(process.execPath, [GIT_KV, ...args], { cwd: dir, env: gitEnv(), timeoutMs: 300_000 });

export async function kvSetTimes(setups: Setup[], warmup: number, rounds: number, say: (s: string) => void): Promise<Partial<Record<SetupKey, number[]>>> {
  const out: Partial<Record<SetupKey, number[]>> = {};
  const dirs = new Map<SetupKey, string>();
  for (const s of setups) dirs.set(s.key, await clientFor(s));
  for (let i = 0; i < warmup + rounds; i++) {
    for (let j = 0; j < setups.length; j++) {
      const s = setups[(i + j) % setups.length];
      const r = await kv(dirs.get(s.key)!, ['set', `bench/set/${i}`, `value ${i}`]);
      if (r.code !== 0) {
        say(`git kv set on ${s.key} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
        continue;
      }
      if (i >= warmup) (out[s.key] ??= []).push(r.ms);
    }
  }
  say(`git kv set: ${warmup + rounds} rounds`);
  return out;
}

/** A JSON Lines batch of `n` new keys with 32-byte values. */
export function batchFile(n: number, tag: string): string {
  const f = path.join(tempDir('stargate-bench-batch-'), 'batch.jsonl');
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const value = Buffer.from(`${tag} value ${String(i).padStart(8, '0')} ........`.slice(0, 32));
    lines.push(JSON.stringify({ op: 'set', key: `bench/mset/${tag}/${i}`, value_b64: value.toString('base64') }));
  }
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

export async function msetTimes(setups: Setup[], keys: number, rounds: number, say: (s: string) => void): Promise<Partial<Record<SetupKey, number[]>>> {
  const out: Partial<Record<SetupKey, number[]>> = {};
  for (let i = 0; i < rounds; i++) {
    const file = batchFile(keys, `r${i}`);
    for (let j = 0; j < setups.length; j++) {
      const s = setups[(i + j) % setups.length];
      const r = await kv(await clientFor(s), ['mset', '--file', file]);
      if (r.code !== 0) {
        say(`git kv mset on ${s.key} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
        continue;
      }
      (out[s.key] ??= []).push(r.ms);
    }
  }
  say(`git kv mset of ${keys} keys: ${rounds} round(s)`);
  return out;
}
