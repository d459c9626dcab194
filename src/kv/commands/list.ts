/** `git kv list [--prefix P]`: live keys, read from the index ref only. */
import type { Command } from 'commander';
import { CatFile } from '../catfile.js';
import { globals, printJson } from '../context.js';
import { KvError } from '../errors.js';
import { decodeKey, encodeKey, indexRef } from '../keys.js';
import { readTip, readTree } from '../ledger.js';
import { EMPTY_TREE, isTreeMode, parseTrailers, type TreeEntry } from '../objects.js';
import { fetchTips, openRepo } from '../repo.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('list live keys (one per line; --json adds size, type and time)')
    .option('--prefix <p>', 'only keys starting with P')
    .action(async (o: { prefix?: string }, cmd: Command) => {
      const g = globals(cmd);
      const prefix = o.prefix ?? '';
      const repo = await openRepo();
      await fetchTips(repo, g.remote, g.ns);
      const cat = new CatFile(repo.env);
      try {
        const tip = await readTip(cat, indexRef(g.ns));
        const entries = tip ? await walkIndex(cat, repo.algo, tip.tree, encodeKey(prefix)) : [];
        const blobs = await cat.readMany(entries.map((e) => e.oid));
        const live: Array<Record<string, unknown> & { key: string }> = [];
        entries.forEach((e, i) => {
          const key = decodeKey(e.name.slice(0, -4));
          if (key === null || !key.startsWith(prefix)) return;
          let ptr: Record<string, unknown>;
          try {
            ptr = JSON.parse(blobs[i]?.data.toString('utf8') ?? '') as Record<string, unknown>;
          } catch {
            throw new KvError('KV_IO', `index entry for ${JSON.stringify(key)} in ${indexRef(g.ns)} is not valid JSON`);
          }
          if (!ptr.deleted) live.push({ ...ptr, key });
        });
        live.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        // The index commit names the ledger tree it describes: the value --expect-tree wants.
        const tree = tip ? (parseTrailers(tip.message).get('KV-Ledger-Tree') ?? null) : EMPTY_TREE[repo.algo];
        if (g.json) printJson({ ns: g.ns, tree, index_commit: tip?.commit ?? null, index_tree: tip?.tree ?? null, keys: live.map(({ key, size, ctype, updated_at, sha256 }) => ({ key, size, ctype, updated_at, sha256 })) });
        else if (live.length) process.stdout.write(live.map((e) => e.key).join('\n') + '\n');
      } finally {
        cat.close();
      }
    });
}

/** `index/<pp>/<pp>/<key>.ref` entries, descending only into shards the encoded prefix allows. */
async function walkIndex(cat: CatFile, algo: 'sha1' | 'sha256', root: string, encPrefix: string): Promise<TreeEntry[]> {
  const index = (await readTree(cat, algo, root)).find((e) => e.name === 'index' && isTreeMode(e.mode));
  if (!index) return [];
  // A shard name s fits the prefix part p when one starts with the other.
  const fits = (s: string, p: string) => s.startsWith(p) || p.startsWith(s);
  const dirs = (es: TreeEntry[], p: string) => es.filter((e) => isTreeMode(e.mode) && fits(e.name, p));
  const l1 = dirs(await readTree(cat, algo, index.oid), encPrefix.slice(0, 2));
  const l2 = (await Promise.all(l1.map(async (d) => dirs(await readTree(cat, algo, d.oid), encPrefix.slice(2, 4))))).flat();
  const files = (await Promise.all(l2.map((d) => readTree(cat, algo, d.oid)))).flat();
  return files.filter((e) => !isTreeMode(e.mode) && e.name.endsWith('.ref'));
}
