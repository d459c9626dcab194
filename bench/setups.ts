/**
 * The four setups measured side by side: plain git-http-backend, a single
 * Stargate node, and Stargate pairs replicating async and sync. Each exposes
 * the URL clients write to, where its repositories live on disk, and its
 * server processes (for memory readings).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, git, startCluster, tempDir, waitFor, type Cluster, type NodeProc } from '../test/helpers/cluster.js';

export type SetupKey = 'baseline' | 'single' | 'async' | 'sync';
export const SETUP_KEYS: SetupKey[] = ['baseline', 'single', 'async', 'sync'];
export const LABELS: Record<SetupKey, string> = {
  baseline: 'git http-backend',
  single: 'Stargate, 1 node',
  async: 'Stargate pair, async',
  sync: 'Stargate pair, sync',
};

/** Every setup serves these repositories: writes, the large clone, the many refs. */
export const REPOS = ['kv', 'big', 'refs'];

export interface Setup {
  key: SetupKey;
  /** Clone/push URL (with credentials) of the writable node. */
  url(repo: string): string;
  /** GIT_DIR of `repo` on the writable node, then on the passive (if any). */
  gitDirs(repo: string): string[];
  /** Server processes by role, for memory readings. */
  procs(): Array<{ role: string; pid: number }>;
  cluster: Cluster | null;
  /** Stop serving, let `fill` write into every node's copy of each repository, serve again. */
  install(fill: (gitDir: string, repo: string) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

const BASELINE_SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'baseline-server.js');

export async function startBaseline(): Promise<Setup> {
  const root = path.join(tempDir('stargate-bench-'), 'repos');
  for (const r of REPOS) await git(['init', '-q', '--bare', '--initial-branch=main', path.join(root, `${r}.git`)]);
  const port = await freePort();
  const credentials = `bench:${crypto.randomBytes(12).toString('hex')}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    const p = spawn(process.execPath, [BASELINE_SERVER, root, String(port), credentials], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = p;
    await new Promise<void>((resolve, reject) => {
      p.stdout!.once('data', () => resolve());
      p.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    });
  };
  const stop = async () => {
    const p = child;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise((r) => {
      p.once('exit', r);
      p.kill('SIGKILL');
    });
  };
  await start();
  return {
    key: 'baseline',
    url: (repo) => `http://${credentials}@127.0.0.1:${port}/${repo}.git`,
    gitDirs: (repo) => [path.join(root, `${repo}.git`)],
    procs: () => (child?.pid ? [{ role: 'server', pid: child.pid }] : []),
    cluster: null,
    install: async (fill) => {
      for (const r of REPOS) await fill(path.join(root, `${r}.git`), r);
    },
    stop,
  };
}

export async function waitInSync(leader: NodeProc, passives: number, timeoutMs = 30_000): Promise<void> {
  if (passives === 0) return;
  await waitFor(`${passives} in-sync passive(s) on ${leader.id}`, async () => (await leader.status()).peers.filter((p: { in_sync: boolean }) => p.in_sync).length >= passives, timeoutMs, 50);
}

/** A Stargate setup: one node, or a pair with the given replication mode (default settings otherwise). */
export async function startStargate(key: Exclude<SetupKey, 'baseline'>): Promise<Setup> {
  const n = key === 'single' ? 1 : 2;
  const c = await startCluster(n, { repos: REPOS, extraArgs: key === 'single' ? [] : ['--replication', key] });
  const [a, b] = c.nodes;
  await waitInSync(a, n - 1);
  const gitDir = (nd: NodeProc, repo: string) => path.join(nd.dataDir, 'repos', `${repo}.git`);
  return {
    key,
    url: (repo) => c.repoUrl(a, repo),
    gitDirs: (repo) => c.nodes.map((nd) => gitDir(nd, repo)),
    procs: () => [{ role: 'leader', pid: a.pid }, ...(b ? [{ role: 'passive', pid: b.pid }] : [])],
    cluster: c,
    install: async (fill) => {
      // Passive first, so it never mirrors a half-filled leader; the leader hands its lease back on SIGTERM.
      if (b) await b.stop('SIGTERM');
      await a.stop('SIGTERM');
      for (const nd of c.nodes) for (const r of REPOS) await fill(gitDir(nd, r), r);
      a.start();
      await a.waitUp();
      await waitFor('node-a to lead again', () => a.ready(), 15_000);
      if (b) {
        b.start();
        await b.waitUp();
        await waitInSync(a, 1);
      }
    },
    stop: async () => {
      for (const nd of [...c.nodes].reverse()) await nd.stop('SIGTERM');
    },
  };
}

/** Read a ref straight from a repository's files (loose, else packed): no process start. */
export function readRef(gitDir: string, ref: string): string | null {
  try {
    return fs.readFileSync(path.join(gitDir, ref), 'utf8').trim();
  } catch {
    try {
      const packed = fs.readFileSync(path.join(gitDir, 'packed-refs'), 'utf8');
      const m = new RegExp(`^([0-9a-f]{40,64}) ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').exec(packed);
      return m ? m[1] : null;
    } catch {
      return null;
    }
  }
}
