/**
 * The one place that starts processes. Always argument arrays, never a shell.
 */
import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';
import { GitError } from '../errors.js';

let execPath: string | null = null;
/** `git --exec-path`, where git-http-backend lives (spawned directly, not via the git wrapper). */
export function gitExecPath(): string {
  if (execPath === null) execPath = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim();
  return execPath;
}
export const httpBackendPath = () => path.join(gitExecPath(), 'git-http-backend');

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Exit codes that are answers rather than failures (e.g. merge-base --is-ancestor's 1). */
  okCodes?: number[];
}
export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => reject(new GitError(`${cmd} ${args[0] ?? ''}: ${e.message}`, { args })));
    child.on('close', (code, signal) => {
      const res = { code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') };
      const ok = res.code === 0 || (opts.okCodes ?? []).includes(res.code);
      if (ok) resolve(res);
      else
        reject(
          new GitError(`${cmd} ${args.join(' ').slice(0, 200)} failed (${signal ?? `exit ${code}`}): ${res.stderr.trim().slice(0, 500)}`, {
            code: res.code,
            stderr: res.stderr,
          }),
        );
    });
    child.stdin!.on('error', () => {}); // the child may exit before reading all input
    child.stdin!.end(opts.input ?? '');
  });
}

/** Run git against a repository (bare or not) with GIT_DIR set. */
export function git(gitDir: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('git', args, { ...opts, env: { ...(opts.env ?? process.env), GIT_DIR: gitDir } });
}

export async function gitText(gitDir: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return (await git(gitDir, args, opts)).stdout.toString('utf8');
}

export function spawnChild(cmd: string, args: string[], opts: SpawnOptions): ChildProcess {
  return spawn(cmd, args, opts);
}
