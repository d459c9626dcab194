/**
 * Test harness: real `stargate serve` processes on loopback, real git.
 * Every process and temp dir is tracked and removed by cleanup().
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const STARGATE = path.join(ROOT, 'dist/src/cli/main.js');
export const GIT_KV = path.join(ROOT, 'dist/src/kv/cli.js');

const tempDirs: string[] = [];
const procs = new Set<ChildProcess>();
const nodeProcs: NodeProc[] = [];

export function tempDir(prefix = 'stargate-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

const handedOut = new Set<number>();

/**
 * A port that is free now, below the kernel's ephemeral range (32768-60999 by default): a node
 * restarted on its old port must not find it taken by some outgoing connection's local end, and
 * no two callers in this process get the same port.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (handedOut.has(p)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!free) continue;
    handedOut.add(p);
    return p;
  }
}

/** Poll `fn` until it returns a truthy value or the deadline passes (then throw with `what`). */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function runSync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, input: opts.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a command to completion without throwing; returns exit code and output. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    procs.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const t = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.on('close', (code, sig) => {
      if (t) clearTimeout(t);
      procs.delete(child);
      resolve({ code: code ?? (sig ? 128 : -1), stdout: out, stderr: err, ms: performance.now() - t0 });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** git with a clean identity and no user config. */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.invalid',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.invalid',
    GIT_TERMINAL_PROMPT: '0',
    ...extra,
  };
}

export const git = (args: string[], cwd?: string, env: NodeJS.ProcessEnv = {}) => run('git', args, { cwd, env: gitEnv(env) });

export interface NodeOptions {
  nodeId?: string;
  sharedDir?: string;
  clusterTokenFile?: string;
  authFile?: string;
  dataDir?: string;
  port?: number;
  repos?: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export class NodeProc {
  proc: ChildProcess | null = null;
  logs = '';
  constructor(readonly id: string, readonly dataDir: string, readonly port: number, readonly args: string[], readonly env: NodeJS.ProcessEnv) {
    nodeProcs.push(this);
  }
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
  start(): this {
    // Logs accumulate across restarts (the chaos checker reads every run's audit lines).
    if (this.logs) this.logs += `\n--- restart of ${this.id} ---\n`;
    const p = spawn(process.execPath, [STARGATE, 'serve', ...this.args], { env: { ...gitEnv(), ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.add(p);
    p.stdout!.on('data', (d) => (this.logs += d));
    p.stderr!.on('data', (d) => (this.logs += d));
    p.on('exit', () => procs.delete(p));
    this.proc = p;
    return this;
  }
  get pid(): number {
    return this.proc!.pid!;
  }
  alive(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }
  signal(sig: NodeJS.Signals): void {
    if (this.alive()) this.proc!.kill(sig);
  }
  async stop(sig: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const p = this.proc;
    if (!p || !this.alive()) return p?.exitCode ?? null;
    if (sig === 'SIGKILL') p.kill('SIGCONT');
    const done = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill(sig);
    return done;
  }
  async status(): Promise<Record<string, any>> {
    const r = await fetch(`${this.url}/api/v1/ha/status`, { signal: AbortSignal.timeout(1000) });
    return (await r.json()) as Record<string, any>;
  }
  async httpStatus(route: string): Promise<number> {
    try {
      return (await fetch(`${this.url}${route}`, { signal: AbortSignal.timeout(1000) })).status;
    } catch {
      return 0;
    }
  }
  async ready(): Promise<boolean> {
    return (await this.httpStatus('/readyz')) === 200;
  }
  async waitUp(timeoutMs = 10_000): Promise<void> {
    await waitFor(`${this.id} to answer /healthz`, async () => {
      if (!this.alive()) throw new Error(`${this.id} exited: ${this.logs.slice(-2000)}`);
      return (await this.httpStatus('/healthz')) === 200;
    }, timeoutMs);
  }
}

export interface Cluster {
  dir: string;
  sharedDir: string;
  authFile: string;
  clusterTokenFile: string;
  user: string;
  token: string;
  nodes: NodeProc[];
  /** Push/clone URL with credentials for a repo on a node. */
  repoUrl(node: NodeProc, repo?: string): string;
  leader(): Promise<NodeProc | null>;
  waitLeader(timeoutMs?: number, exclude?: NodeProc): Promise<NodeProc>;
}

/** Start `n` nodes sharing one lock directory (n=1 gives a single node with its own lock). */
export async function startCluster(n: number, opts: { repos?: string[]; extraArgs?: string[]; shared?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Cluster> {
  const dir = tempDir();
  const sharedDir = path.join(dir, 'shared');
  const authFile = path.join(dir, 'auth.json');
  const clusterTokenFile = path.join(dir, 'cluster.token');
  fs.writeFileSync(clusterTokenFile, 'cluster-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2) + '\n');
  const token = runSync(process.execPath, [STARGATE, 'token', 'add', 'tester', '--auth-file', authFile]).trim().split('\n').pop()!;
  const repos = opts.repos ?? ['kv'];
  const nodes: NodeProc[] = [];
  for (let i = 0; i < n; i++) {
    const id = `node-${String.fromCharCode(97 + i)}`;
    const dataDir = path.join(dir, id);
    for (const r of repos) runSync(process.execPath, [STARGATE, 'init', '--data-dir', dataDir, '--repo', r]);
    const port = await freePort();
    const args = ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--node-id', id, '--auth-file', authFile, '--cluster-token-file', clusterTokenFile];
    if ((n > 1 || opts.shared) && !opts.extraArgs?.includes('--lock')) args.push('--shared-dir', sharedDir);
    args.push(...(opts.extraArgs ?? []));
    nodes.push(new NodeProc(id, dataDir, port, args, opts.env ?? {}));
  }
  // Start the first node alone so it deterministically becomes the leader.
  nodes[0].start();
  await nodes[0].waitUp();
  await waitFor('node-a to lead', () => nodes[0].ready());
  for (const nd of nodes.slice(1)) nd.start();
  for (const nd of nodes.slice(1)) await nd.waitUp();
  const c: Cluster = {
    dir,
    sharedDir,
    authFile,
    clusterTokenFile,
    user: 'tester',
    token,
    nodes,
    repoUrl: (node, repo = 'kv') => `http://tester:${token}@127.0.0.1:${node.port}/${repo}.git`,
    leader: async () => {
      for (const nd of nodes) if (nd.alive() && (await nd.ready())) return nd;
      return null;
    },
    waitLeader: (timeoutMs = 10_000, exclude) =>
      waitFor('a leader', async () => {
        for (const nd of nodes) if (nd !== exclude && nd.alive() && (await nd.ready())) return nd;
        return null;
      }, timeoutMs, 10),
  };
  return c;
}

/** A work tree with one commit, ready to push. */
export async function workTree(): Promise<string> {
  const d = path.join(tempDir(), 'work');
  fs.mkdirSync(d);
  await git(['init', '-q', '-b', 'main'], d);
  fs.writeFileSync(path.join(d, 'README'), 'hello\n');
  await git(['add', '.'], d);
  await git(['commit', '-q', '-m', 'first'], d);
  return d;
}

export async function commit(dir: string, msg: string): Promise<string> {
  fs.writeFileSync(path.join(dir, 'file.txt'), `${msg} ${Date.now()} ${Math.random()}\n`);
  await git(['add', '.'], dir);
  await git(['commit', '-q', '-m', msg], dir);
  return (await git(['rev-parse', 'HEAD'], dir)).stdout.trim();
}

export async function remoteRefs(dataDir: string, repo = 'kv'): Promise<Map<string, string>> {
  const r = await run('git', ['--git-dir', path.join(dataDir, 'repos', `${repo}.git`), 'for-each-ref', '--format=%(objectname) %(refname)'], { env: gitEnv() });
  return new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => { const [o, n] = l.split(' '); return [n, o]; }));
}

export async function cleanup(): Promise<void> {
  // STARGATE_TEST_LOGS=DIR keeps every node's log (to read after a failed run).
  const keep = process.env.STARGATE_TEST_LOGS;
  const made = nodeProcs.splice(0);
  if (keep) {
    fs.mkdirSync(keep, { recursive: true });
    for (const n of made) fs.writeFileSync(path.join(keep, `${process.pid}-${n.id}-${n.port}.log`), n.logs);
  }
  for (const p of procs) {
    try {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  procs.clear();
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
