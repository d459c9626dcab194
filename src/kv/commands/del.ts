/** `git kv del KEY...`: data and metadata removed from the ledger, a tombstone in the index. */
import type { Command } from 'commander';
import { globals, printJson } from '../context.js';
import { validateKey } from '../keys.js';
import { runTxn } from '../txn.js';

export function registerDel(program: Command): void {
  program
    .command('del')
    .description('delete one or more keys in one transaction (absent keys are reported, not an error)')
    .argument('<keys...>')
    .action(async (keys: string[], _o: unknown, cmd: Command) => {
      const g = globals(cmd);
      for (const k of keys) validateKey(k);
      const r = await runTxn(
        keys.map((key) => ({ op: 'del', key })),
        g,
      );
      if (g.json) printJson({ ok: true, ...r });
      else if (r.missing.length) process.stderr.write(`git kv: not present, nothing to delete: ${r.missing.map((k) => JSON.stringify(k)).join(', ')}\n`);
    });
}
