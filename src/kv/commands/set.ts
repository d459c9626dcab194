/** `git kv set KEY VALUE|-|@FILE`: one key, one transaction. */
import type { Command } from 'commander';
import { globals, printJson, readValue } from '../context.js';
import { validateKey } from '../keys.js';
import { runTxn } from '../txn.js';

export function registerSet(program: Command): void {
  program
    .command('set')
    .description('store VALUE under KEY (VALUE "-" reads stdin, "@FILE" reads a file; binary-safe)')
    .argument('<key>')
    .argument('<value>')
    .option('--ctype <type>', 'content type kept in the metadata (default: text/plain for a literal value, application/octet-stream otherwise)')
    .action(async (key: string, valueArg: string, o: { ctype?: string }, cmd: Command) => {
      const g = globals(cmd);
      validateKey(key);
      const { value, literal } = await readValue(valueArg);
      const ctype = o.ctype ?? (literal ? 'text/plain; charset=utf-8' : 'application/octet-stream');
      const r = await runTxn([{ op: 'set', key, value, ctype }], g);
      if (g.json) printJson({ ok: true, ...r });
    });
}
