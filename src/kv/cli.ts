#!/usr/bin/env node
/**
 * `git kv` (git runs `git-kv`): a key-value store whose every write is a pair
 * of commits pushed atomically to Stargate. One file per command, registered here.
 */
import { Command, CommanderError } from 'commander';
import { StargateError } from '../errors.js';
import { registerDel } from './commands/del.js';
import { registerGet } from './commands/get.js';
import { registerList } from './commands/list.js';
import { registerMset } from './commands/mset.js';
import { registerRemote } from './commands/remote.js';
import { registerSet } from './commands/set.js';
import { KvError } from './errors.js';

const program = new Command('git kv')
  .description('Git is the database: keys and values on refs/kv/<ns>, written through Stargate')
  .version('0.1.0')
  .option('--ns <ns>', 'namespace (refs/kv/<ns>)', 'main')
  .option('--remote <remote>', 'remote name or URL to fetch from and push to', 'origin')
  .option('--json', 'machine-readable output (errors too)')
  .option('--expect-tree <oid>', 'set/mset/del: write only if the ledger tree is still OID; never retry (exit 2 otherwise)')
  .showHelpAfterError()
  .exitOverride();
registerSet(program);
registerGet(program);
registerDel(program);
registerList(program);
registerMset(program);
registerRemote(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 64);
  const e = err instanceof KvError ? err : new KvError('KV_IO', err instanceof StargateError || err instanceof Error ? err.message : String(err));
  process.stderr.write(`git kv: ${e.message}\n`);
  if (program.opts().json) {
    const { stderr: _omit, ...data } = e.data;
    process.stdout.write(JSON.stringify({ ok: false, error: e.code, exit: e.exitCode, message: e.message, ...data }) + '\n');
  }
  process.exitCode = e.exitCode;
}
