/**
 * The client's local clone: where it is, its object format, the committer
 * identity, fetching the ledger tips from the remote and storing new objects.
 * Local refs/kv/<ns> and refs/kv-index/<ns> mirror what the remote had when we
 * last talked to it; they are a cache, force-updated on every fetch.
 */
import os from 'node:os';
import path from 'node:path';
import { GitError } from '../errors.js';
import { run, type RunOptions, type RunResult } from '../git/spawn.js';
import { KvError } from './errors.js';
import { indexRef, ledgerRef } from './keys.js';
import type { HashAlgo } from './objects.js';

export interface Repo {
  gitDir: string;
  /** Where objects are written (honours GIT_OBJECT_DIRECTORY). */
  objectsDir: string;
  algo: HashAlgo;
  env: NodeJS.ProcessEnv;
}

const stderrOf = (e: unknown) => (e instanceof GitError ? String(e.data.stderr ?? e.message) : e instanceof Error ? e.message : String(e));
const firstLines = (s: string) => s.trim().split('\n').filter(Boolean).slice(0, 4).join('; ');

/** Runs git in the clone; failures become KvError KV_IO (exit 5) saying what was being done. */
export async function gitIn(repo: Repo | null, what: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  try {
    return await run('git', args, { ...opts, env: { ...(repo?.env ?? process.env), ...(opts.env ?? {}) } });
  } catch (e) {
    throw new KvError('KV_IO', `${what} failed: ${firstLines(stderrOf(e))}`, { stderr: stderrOf(e) });
  }
}

export async function openRepo(): Promise<Repo> {
  const r = await gitIn(null, 'finding the git repository (run git kv inside a clone)', ['rev-parse', '--absolute-git-dir', '--show-object-format', '--git-path', 'objects']);
  const [gitDir, format, objects] = r.stdout.toString('utf8').trim().split('\n');
  if (format !== 'sha1' && format !== 'sha256') throw new KvError('KV_IO', `unsupported object format ${format}`);
  return { gitDir, objectsDir: path.resolve(objects), algo: format, env: { ...process.env, GIT_DIR: gitDir } };
}

/** "Name <email>" from git's own rules; a neutral identity when none is configured. */
export async function committerIdent(repo: Repo): Promise<string> {
  try {
    const r = await run('git', ['var', 'GIT_COMMITTER_IDENT'], { env: repo.env });
    const m = /^(.*<[^>]*>)/.exec(r.stdout.toString('utf8').trim());
    if (m) return m[1];
  } catch {
    /* no identity configured: fall through */
  }
  let user = 'git-kv';
  try {
    user = os.userInfo().username.replace(/[<>\n]/g, '') || user;
  } catch {
    /* no passwd entry */
  }
  return `${user} <${user}@${os.hostname().replace(/[<>\n]/g, '') || 'localhost'}>`;
}

export function gitDate(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${Math.floor(d.getTime() / 1000)} ${sign}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}

const LOCK_CONTENTION = /cannot lock ref|Unable to create '.*\.lock'|unable to update local ref/i;
export const jitter = (attempt: number) => new Promise((r) => setTimeout(r, Math.min(400, 15 * 2 ** attempt) * (0.5 + Math.random())));

/**
 * Brings local refs/kv/<ns> and refs/kv-index/<ns> to the remote's tips. A
 * namespace the remote does not have yet is not an error: its local refs are
 * removed and the next transaction starts the ledger.
 */
export async function fetchTips(repo: Repo, remote: string, ns: string): Promise<void> {
  const refs = [ledgerRef(ns), indexRef(ns)];
  const fetch = (names: string[]) =>
    run('git', ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--no-auto-gc', '--no-recurse-submodules', remote, ...names.map((n) => `+${n}:${n}`)], { env: repo.env });
  for (let attempt = 0; ; attempt++) {
    try {
      await fetch(refs);
      return;
    } catch (e) {
      const err = stderrOf(e);
      if (/couldn't find remote ref/i.test(err)) return fetchPresent(repo, remote, refs, fetch);
      // Another git kv in this clone is updating the same local ref: wait and try again.
      if (LOCK_CONTENTION.test(err) && attempt < 8) {
        await jitter(attempt);
        continue;
      }
      throw new KvError('KV_IO', `fetching ${refs.join(' and ')} from ${remote} failed: ${firstLines(err)}`, { stderr: err });
    }
  }
}

async function fetchPresent(repo: Repo, remote: string, refs: string[], fetch: (names: string[]) => Promise<RunResult>): Promise<void> {
  const ls = await gitIn(repo, `listing ${refs.join(' and ')} on ${remote}`, ['ls-remote', remote, ...refs]);
  const present = new Set(ls.stdout.toString('utf8').split('\n').map((l) => l.split('\t')[1]).filter(Boolean));
  const have = refs.filter((r) => present.has(r));
  if (have.length) {
    try {
      await fetch(have);
    } catch (e) {
      throw new KvError('KV_IO', `fetching ${have.join(' and ')} from ${remote} failed: ${firstLines(stderrOf(e))}`);
    }
  }
  const gone = refs.filter((r) => !present.has(r));
  if (gone.length) await gitIn(repo, 'clearing stale local ledger refs', ['update-ref', '--stdin'], { input: gone.map((r) => `delete ${r}\n`).join('') });
}

/** After a successful push: local refs follow, so the next fetch negotiates from there. Best effort. */
export async function advanceLocalRefs(repo: Repo, updates: { ref: string; oid: string }[]): Promise<void> {
  try {
    await run('git', ['update-ref', '--stdin'], { env: repo.env, input: updates.map((u) => `update ${u.ref} ${u.oid}\n`).join('') });
  } catch {
    /* a concurrent git kv moved them; the next fetch corrects them either way */
  }
}
