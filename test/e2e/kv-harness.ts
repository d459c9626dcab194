/** Shared by the git kv end-to-end tests: run the client, make clones, put `git kv` on PATH. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GIT_KV, git, gitEnv, run, tempDir, type Result } from '../helpers/cluster.js';

export type Kv = (args: string[], opts?: { input?: string | Buffer; env?: NodeJS.ProcessEnv }) => Promise<Result>;

/** The git-kv client run with node in `cwd` (clean git identity, no user config). */
export function kvIn(cwd: string): Kv {
  return (args, opts = {}) => run(process.execPath, [GIT_KV, ...args], { cwd, env: gitEnv(opts.env), input: opts.input, timeoutMs: 120_000 });
}

/** A fresh clone of `url` (the server may have no branches at all). */
export async function cloneOf(url: string, name = 'clone'): Promise<string> {
  const d = path.join(tempDir('stargate-kv-'), name);
  const r = await git(['clone', '-q', url, d]);
  if (r.code !== 0) throw new Error(`clone failed: ${r.stderr}`);
  return d;
}

/** A PATH on which `git kv` finds an executable `git-kv`, as after `npm install -g`. */
export function pathWithGitKv(): string {
  const bin = path.join(tempDir('stargate-kv-bin-'), 'bin');
  fs.mkdirSync(bin);
  const wrapper = path.join(bin, 'git-kv');
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec "${process.execPath}" "${GIT_KV}" "$@"\n`);
  fs.chmodSync(wrapper, 0o755);
  return `${bin}${path.delimiter}${process.env.PATH ?? ''}`;
}

/** Tips of refs/kv/<ns> and refs/kv-index/<ns> as the server holds them. */
export async function serverTips(dataDir: string, ns = 'main', repo = 'kv'): Promise<{ ledger: string; index: string }> {
  const r = await run('git', ['--git-dir', path.join(dataDir, 'repos', `${repo}.git`), 'for-each-ref', '--format=%(objectname) %(refname)', `refs/kv/${ns}`, `refs/kv-index/${ns}`], { env: gitEnv() });
  const m = new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(' ').reverse() as [string, string]));
  return { ledger: m.get(`refs/kv/${ns}`) ?? '', index: m.get(`refs/kv-index/${ns}`) ?? '' };
}

/** `git kv get KEY` stdout as raw bytes (the generic runner decodes text). */
export function kvBytes(cwd: string, key: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [GIT_KV, 'get', key], { cwd, env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`git kv get ${key} exited ${code}: ${err}`))));
  });
}
