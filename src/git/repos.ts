/**
 * Repositories on this node's own disk: DATA_DIR/repos/NAME.git, each wired
 * to the project's hooks/ directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StargateError } from '../errors.js';
import { git, gitText } from './spawn.js';

/** The project's hooks/ directory (dist/src/git -> project root). */
export const HOOKS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../hooks');

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Repository names: one or two path segments of letters, digits, `._-`,
 * never starting with a dot, no `..`, no encoded characters.
 */
export function validateRepoName(name: string): void {
  const segs = name.split('/');
  const ok =
    name.length <= 200 &&
    segs.length >= 1 &&
    segs.length <= 2 &&
    segs.every((s) => SEGMENT.test(s) && !s.includes('..') && !s.endsWith('.git') && !s.endsWith('.lock'));
  if (!ok) throw new StargateError('REPO_NAME_INVALID', `invalid repository name "${name.replace(/[^\x20-\x7e]/g, '?')}"`);
}

export const reposRoot = (dataDir: string) => path.join(dataDir, 'repos');
export const repoPath = (dataDir: string, name: string) => path.join(reposRoot(dataDir), `${name}.git`);

export function repoExists(dataDir: string, name: string): boolean {
  try {
    return fs.statSync(path.join(repoPath(dataDir, name), 'HEAD')).isFile();
  } catch {
    return false;
  }
}

/** Settings every Stargate repository carries in its own config. */
const REPO_CONFIG: [string, string][] = [
  ['core.hooksPath', HOOKS_DIR],
  ['core.logAllRefUpdates', 'always'],
  ['receive.advertisePushOptions', 'true'],
  ['uploadpack.allowFilter', 'true'],
  ['gc.autoDetach', 'false'],
];

/** Creates DATA_DIR/repos/NAME.git if missing and (re)wires it. Idempotent. */
export async function initRepo(dataDir: string, name: string): Promise<{ created: boolean; path: string }> {
  validateRepoName(name);
  const p = repoPath(dataDir, name);
  const created = !repoExists(dataDir, name);
  if (created) {
    fs.mkdirSync(path.dirname(p), { recursive: true });
    await git(p, ['init', '--bare', '--quiet', '--initial-branch=main', p]);
  }
  for (const [k, v] of REPO_CONFIG) await git(p, ['config', k, v]);
  return { created, path: p };
}

/** Re-checks a repository's hook wiring; returns true when it had to fix it. */
export async function ensureHooksWired(dataDir: string, name: string): Promise<boolean> {
  const p = repoPath(dataDir, name);
  const cur = (await gitText(p, ['config', '--get', 'core.hooksPath'], { okCodes: [1] })).trim();
  if (cur === HOOKS_DIR) return false;
  await git(p, ['config', 'core.hooksPath', HOOKS_DIR]);
  return true;
}

/** Every repository under DATA_DIR/repos (names without .git), sorted. */
export function listRepos(dataDir: string): string[] {
  const root = reposRoot(dataDir);
  const out: string[] = [];
  const walk = (dir: string, prefix: string, depth: number) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.name.endsWith('.git')) {
        const name = rel.slice(0, -4);
        if (repoExists(dataDir, name)) out.push(name);
      } else if (depth < 1) walk(path.join(dir, e.name), rel, depth + 1);
    }
  };
  walk(root, '', 0);
  return out.sort();
}

/** All refs of a repository as name -> oid (refs/stargate/ excluded unless asked). */
export async function readRefs(gitDir: string, opts: { includeInternal?: boolean } = {}): Promise<Map<string, string>> {
  const text = await gitText(gitDir, ['for-each-ref', '--format=%(objectname) %(refname)']);
  const refs = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    const ref = line.slice(sp + 1);
    if (!opts.includeInternal && ref.startsWith('refs/stargate/')) continue;
    refs.set(ref, line.slice(0, sp));
  }
  return refs;
}
