/** `git kv get KEY`: the value's raw bytes on stdout; `--json` adds the metadata. */
import type { Command } from 'commander';
import { CatFile } from '../catfile.js';
import { globals, printJson } from '../context.js';
import { KvError, NotFoundError } from '../errors.js';
import { keyPaths, ledgerRef, validateKey } from '../keys.js';
import { readTip } from '../ledger.js';
import { fetchTips, openRepo } from '../repo.js';

export function registerGet(program: Command): void {
  program
    .command('get')
    .description('print the value stored under KEY (exit 1 when absent)')
    .argument('<key>')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      validateKey(key);
      const repo = await openRepo();
      await fetchTips(repo, g.remote, g.ns);
      const ref = ledgerRef(g.ns);
      const p = keyPaths(key);
      const cat = new CatFile(repo.env);
      try {
        const tip = await readTip(cat, ref);
        if (!tip) throw new NotFoundError(`key not found: ${JSON.stringify(key)} (namespace ${g.ns} is empty)`);
        const [data, meta] = await cat.readMany([`${tip.commit}:${p.data}`, `${tip.commit}:${p.meta}`]);
        if (!data || data.type !== 'blob') throw new NotFoundError(`key not found: ${JSON.stringify(key)}`);
        if (!g.json) {
          process.stdout.write(data.data);
          return;
        }
        let m: Record<string, unknown> = {};
        try {
          m = meta ? (JSON.parse(meta.data.toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          throw new KvError('KV_IO', `metadata of ${JSON.stringify(key)} in ${ref} is not valid JSON`);
        }
        const text = data.data.toString('utf8');
        const isText = Buffer.from(text, 'utf8').equals(data.data);
        printJson({ ns: g.ns, ...m, key, size: data.data.length, ...(isText ? { value: text } : {}), value_b64: data.data.toString('base64'), blob: data.oid, commit: tip.commit, tree: tip.tree });
      } finally {
        cat.close();
      }
    });
}
