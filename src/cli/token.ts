import type { Command } from 'commander';
import { addToken } from '../auth/tokens.js';

export function registerToken(program: Command): void {
  const token = program.command('token').description('manage access tokens');
  token
    .command('add <NAME>')
    .description('create a token for NAME; prints it once on the last line, the file keeps only a hash')
    .requiredOption('--auth-file <FILE>', 'auth file', process.env.STARGATE_AUTH_FILE)
    .action((name: string, o: { authFile: string }) => {
      const t = addToken(o.authFile, name);
      process.stderr.write(`token for ${name} added to ${o.authFile}; it is shown only now:\n`);
      process.stdout.write(`${t}\n`);
    });
}
