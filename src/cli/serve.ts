import type { Command } from 'commander';
import { Option } from 'commander';
import { SERVE_OPTIONS, checkServeEnvironment, envName, resolveServeConfig } from '../config.js';
import { createLogger } from '../log.js';
import { StargateNode } from '../node.js';
import { createLock } from '../election/create.js';

export function registerServe(program: Command): void {
  const cmd = program.command('serve').description('run a Stargate node');
  for (const o of SERVE_OPTIONS) {
    const flags = o.kind === 'bool' ? `--${o.flag}` : `--${o.flag} <${o.arg ?? 'VALUE'}>`;
    const opt = new Option(flags, `${o.help}${o.default ? ` (default: ${o.default})` : ''} [${envName(o.flag)}]`);
    cmd.addOption(opt);
  }
  cmd.option('--config <FILE>', 'JSON file with any of the options above as keys [STARGATE_CONFIG]');
  cmd.action(async (opts: Record<string, string | boolean | undefined>) => {
    const flags: Record<string, string | boolean | undefined> = {};
    for (const o of SERVE_OPTIONS) flags[o.flag] = opts[o.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    const cfg = resolveServeConfig(flags, process.env, (opts.config as string | undefined) ?? process.env.STARGATE_CONFIG);
    checkServeEnvironment(cfg);
    const log = createLogger(cfg.logLevel, { node: cfg.nodeId });
    const node = new StargateNode(cfg, log, await createLock(cfg));
    await node.start();
    let firstSignalAt = 0;
    const stop = (sig: string) => {
      // A second signal forces the exit; one arriving together with the first
      // (Ctrl-C reaches the whole process group, and supervisors forward it) does not.
      if (firstSignalAt) {
        if (Date.now() - firstSignalAt > 1000) process.exit(1);
        return;
      }
      firstSignalAt = Date.now();
      node
        .shutdown(`it received ${sig}`)
        .then(() => {
          log.info('exit', { msg: 'stopped cleanly' });
          process.exit(0);
        })
        .catch((err: Error) => {
          log.error('exit', { msg: `shutdown failed: ${err.message}` });
          process.exit(1);
        });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
