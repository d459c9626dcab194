/** `git kv mset --file BATCH.jsonl`: many sets and deletes, one transaction. */
import fs from 'node:fs';
import type { Command } from 'commander';
import { parseBatch } from '../batch.js';
import { globals, printJson, readAll } from '../context.js';
import { KvError } from '../errors.js';
import { runTxn } from '../txn.js';

export function registerMset(program: Command): void {
  program
    .command('mset')
    .description('apply a JSON Lines batch ({"op":"set","key":…,"value_b64":…,"ctype":…} / {"op":"del","key":…}) as one transaction')
    .requiredOption('--file <path>', 'batch file, "-" for stdin')
    .action(async (o: { file: string }, cmd: Command) => {
      const g = globals(cmd);
      let text: Buffer;
      try {
        text = o.file === '-' ? await readAll(process.stdin) : fs.readFileSync(o.file);
      } catch (e) {
        throw new KvError('KV_IO', `cannot read ${o.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const ops = parseBatch(text.toString('utf8'), o.file);
      if (ops.length === 0) {
        if (g.json) printJson({ ok: true, ns: g.ns, committed: false, attempts: 0, set: [], deleted: [], missing: [] });
        return;
      }
      const r = await runTxn(ops, g);
      if (g.json) printJson({ ok: true, ...r, set: r.set.length, deleted: r.deleted.length, missing: r.missing.length });
    });
}
