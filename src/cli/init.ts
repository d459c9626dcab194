import path from 'node:path';
import type { Command } from 'commander';
import { ensureWritableDir } from '../config.js';
import { initRepo } from '../git/repos.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create (or re-wire) DATA_DIR/repos/NAME.git; idempotent')
    .requiredOption('--data-dir <DIR>', 'data directory', process.env.STARGATE_DATA_DIR)
    .requiredOption('--repo <NAME>', 'repository name (served at /NAME.git)')
    .action(async (o: { dataDir: string; repo: string }) => {
      const dataDir = path.resolve(o.dataDir);
      ensureWritableDir(dataDir, '--data-dir');
      const r = await initRepo(dataDir, o.repo);
      process.stdout.write(`${r.created ? 'created' : 'exists'} ${r.path}\n`);
    });
}
