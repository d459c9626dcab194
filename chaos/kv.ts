/** The two places the chaos suite touches git-kv: one write, and reading the final ledger. */
import path from 'node:path';
import { decodeKey } from '../src/kv/keys.js';
import { GIT_KV, git, gitEnv, run, type Result } from '../test/helpers/cluster.js';

/**
 * `git kv set KEY VALUE` through `remote`. A compare-and-swap write passes the
 * ledger tree this clone last saw (`--expect-tree`), so it loses (exit 2)
 * whenever another writer got in first.
 */
export async function kvWrite(dir: string, remote: string, key: string, value: string, cas: boolean): Promise<Result> {
  const extra: string[] = [];
  if (cas) {
    const tree = await git(['rev-parse', '--verify', '-q', 'refs/kv/main^{tree}'], dir);
    if (tree.code === 0) extra.push('--expect-tree', tree.stdout.trim());
  }
  return run(process.execPath, [GIT_KV, '--remote', remote, 'set', ...extra, key, value], {
    cwd: dir,
    // A frozen (SIGSTOPped) leader accepts connections but never answers: give up after 3 s.
    env: gitEnv({ GIT_HTTP_LOW_SPEED_LIMIT: '1000', GIT_HTTP_LOW_SPEED_TIME: '3' }),
    timeoutMs: 30_000,
  });
}

/** Every key and value in refs/kv/main of a node's repository, read straight from git. */
export async function kvRead(dataDir: string, ns = 'main'): Promise<Map<string, string>> {
  const gitDir = path.join(dataDir, 'repos', 'kv.git');
  const ls = await git(['--git-dir', gitDir, 'ls-tree', '-r', `refs/kv/${ns}`, '--', 'data/']);
  const entries: Array<{ key: string; oid: string }> = [];
  for (const line of ls.stdout.split('\n')) {
    const m = /^\d+ blob ([0-9a-f]+)\t(.+)$/.exec(line);
    const key = m ? decodeKey(path.basename(m[2])) : null;
    if (m && key !== null) entries.push({ key, oid: m[1] });
  }
  const values = new Map<string, string>();
  if (entries.length === 0) return values;
  const cat = await run('git', ['--git-dir', gitDir, 'cat-file', '--batch'], { input: entries.map((e) => e.oid).join('\n') + '\n', env: gitEnv() });
  // Parse "<oid> blob <size>\n<content>\n" records (values here are ASCII).
  const buf = Buffer.from(cat.stdout, 'utf8');
  let pos = 0;
  for (const e of entries) {
    const nl = buf.indexOf(10, pos);
    const size = Number(buf.subarray(pos, nl).toString().split(' ')[2]);
    values.set(e.key, buf.subarray(nl + 1, nl + 1 + size).toString('utf8'));
    pos = nl + 1 + size + 1;
  }
  return values;
}
