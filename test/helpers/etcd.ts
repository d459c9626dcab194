/**
 * Real etcd for tests: one member or a cluster, random loopback ports, temp
 * data dirs, killed by stop() (and on process exit). startEtcd() and
 * startEtcdCluster() never throw: when etcd cannot run they return the
 * reason, for the suite to skip with.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './cluster.js';

export interface EtcdMember {
  name: string;
  /** HOST:PORT of the client endpoint. */
  endpoint: string;
  logs(): string;
  alive(): boolean;
  /** Kill the member (SIGKILL: an outage; SIGSTOP: hung, connections open but no answers). */
  stop(sig?: NodeJS.Signals): Promise<void>;
  /** SIGCONT after a SIGSTOP. */
  resume(): void;
  /** Start again on the same ports and data dir (keeps keys and revisions). */
  restart(): Promise<void>;
  /** Whether this member is the raft leader (GET /metrics: etcd_server_is_leader). */
  isLeader(): Promise<boolean>;
}

export interface EtcdServer extends EtcdMember {
  /** `etcd://HOST:PORT` for `stargate serve --lock`. */
  lockUrl: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** `etcd://HOST:PORT,HOST:PORT,…` listing every member. */
  lockUrl: string;
  leader(): Promise<EtcdMember | null>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const dataDirs = new Set<string>();
process.on('exit', () => {
  for (const p of running) {
    try {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
});

export function etcdBinary(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'etcd' : null;
}

const NOT_INSTALLED = 'etcd is not installed (Debian package etcd-server; `bash .ci/run` installs it)';

/** One etcd member on 127.0.0.1. */
export async function startEtcd(): Promise<EtcdServer | { skip: string }> {
  const c = await startEtcdCluster(1);
  if ('skip' in c) return c;
  return { ...c.members[0], lockUrl: c.lockUrl };
}

/**
 * An n-member etcd cluster on loopback. Faster raft timing than etcd's default
 * (heartbeat 50 ms, election 500 ms) keeps member-loss tests short.
 */
export async function startEtcdCluster(n: number, opts: { fastElections?: boolean } = {}): Promise<EtcdCluster | { skip: string }> {
  if (!etcdBinary()) return { skip: NOT_INSTALLED };
  // Its own directory, not one of cluster.ts's temp dirs: those go at every test's cleanup, and
  // an etcd that outlives a test (one per file) dies when it finds its data dir gone.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stargate-etcd-'));
  dataDirs.add(dir);
  const specs: { name: string; client: string; peer: string }[] = [];
  for (let i = 0; i < n; i++) specs.push({ name: `m${i}`, client: `http://127.0.0.1:${await freePort()}`, peer: `http://127.0.0.1:${await freePort()}` });
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const members = specs.map((s) => member(s, [
    '--name', s.name,
    '--data-dir', path.join(dir, s.name),
    '--listen-client-urls', s.client,
    '--advertise-client-urls', s.client,
    '--listen-peer-urls', s.peer,
    '--initial-advertise-peer-urls', s.peer,
    '--initial-cluster', initialCluster,
    '--initial-cluster-state', 'new',
    '--initial-cluster-token', path.basename(dir),
    '--log-level', 'warn',
    ...(opts.fastElections ? ['--heartbeat-interval', '50', '--election-timeout', '500'] : []),
  ]));
  const stopAll = async () => {
    for (const m of members) await m.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    dataDirs.delete(dir);
  };
  try {
    // Members of a new cluster wait for each other: launch all, then wait for health.
    await Promise.all(members.map((m) => m.restart()));
  } catch (err) {
    await stopAll();
    return { skip: `etcd could not start on 127.0.0.1: ${(err as Error).message}` };
  }
  return {
    members,
    lockUrl: `etcd://${members.map((m) => m.endpoint).join(',')}`,
    leader: async () => {
      for (const m of members) if (m.alive() && (await m.isLeader().catch(() => false))) return m;
      return null;
    },
    stop: stopAll,
  };
}

function member(s: { name: string; client: string; peer: string }, args: string[]): EtcdMember {
  let proc: ChildProcess | null = null;
  let out = '';
  const alive = () => !!proc && proc.exitCode === null && proc.signalCode === null;
  const launch = async () => {
    out = '';
    const p = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    p.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
    p.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
    p.on('exit', () => running.delete(p));
    proc = p;
    await waitFor(`etcd member ${s.name} to report healthy`, async () => {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`etcd exited: ${out.slice(-1500)}`);
      const r = await fetch(`${s.client}/health`, { signal: AbortSignal.timeout(500) });
      return r.ok && ((await r.json()) as { health?: string }).health === 'true';
    }, 15_000, 50);
  };
  const stop = async (sig: NodeJS.Signals = 'SIGKILL') => {
    const p = proc;
    if (!p || !alive()) return;
    if (sig === 'SIGSTOP') {
      p.kill('SIGSTOP');
      return;
    }
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGCONT');
    p.kill(sig);
    await exited;
  };
  return {
    name: s.name,
    endpoint: s.client.replace('http://', ''),
    logs: () => out,
    alive,
    stop,
    resume: () => void proc?.kill('SIGCONT'),
    restart: async () => {
      await stop();
      await launch();
    },
    isLeader: async () => {
      const text = await (await fetch(`${s.client}/metrics`, { signal: AbortSignal.timeout(500) })).text();
      return /^etcd_server_is_leader 1$/m.test(text);
    },
  };
}
