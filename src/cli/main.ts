#!/usr/bin/env node
/** `stargate` command line: one file per command, registered here. */
import { Command, CommanderError } from 'commander';
import { StargateError } from '../errors.js';
import { registerInit } from './init.js';
import { registerToken } from './token.js';
import { registerServe } from './serve.js';
import { registerStatus } from './status.js';
import { registerPromote, registerSwitchover } from './switchover.js';

const program = new Command('stargate')
  .description('Active-passive high-availability Git smart-HTTP server')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();
registerInit(program);
registerToken(program);
registerServe(program);
registerStatus(program);
registerSwitchover(program);
registerPromote(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 64);
  if (err instanceof StargateError) {
    process.stderr.write(`stargate: ${err.message}\n`);
    process.exit(err.code === 'CONFIG_INVALID' ? 64 : 1);
  }
  throw err;
}
