/**
 * A real single-member etcd for tests: random loopback ports, a temp data dir,
 * killed by stop() (and on process exit). startEtcd() never throws: when etcd
 * cannot run it returns the reason, for the suite to skip with.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort, tempDir, waitFor } from './cluster.js';

export interface EtcdServer {
  /** HOST:PORT of the client endpoint. */
  endpoint: string;
  /** `etcd://HOST:PORT` for `stargate serve --lock`. */
  lockUrl: string;
  logs(): string;
  alive(): boolean;
  /** Kill etcd (SIGKILL: an outage; SIGSTOP: a hung member that accepts connections). */
  stop(sig?: NodeJS.Signals): Promise<void>;
  /** SIGCONT after a SIGSTOP. */
  resume(): void;
  /** Start again on the same ports and data dir (keeps keys and revisions). */
  restart(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) {
    try {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export function etcdBinary(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'etcd' : null;
}

export async function startEtcd(): Promise<EtcdServer | { skip: string }> {
  if (!etcdBinary()) return { skip: 'etcd is not installed (Debian package etcd-server; `bash .ci/run` installs it)' };
  const dir = tempDir('stargate-etcd-');
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', 'test',
    '--data-dir', path.join(dir, 'data'),
    '--listen-client-urls', client,
    '--advertise-client-urls', client,
    '--listen-peer-urls', peer,
    '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `test=${peer}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'warn',
  ];
  let proc: ChildProcess | null = null;
  let out = '';
  const launch = async () => {
    out = '';
    const p = spawn('etcd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(p);
    p.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
    p.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
    p.on('exit', () => running.delete(p));
    proc = p;
    await waitFor('etcd to report healthy', async () => {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`etcd exited: ${out.slice(-1500)}`);
      const r = await fetch(`${client}/health`, { signal: AbortSignal.timeout(500) });
      return r.ok && ((await r.json()) as { health?: string }).health === 'true';
    }, 15_000, 50);
  };
  const alive = () => !!proc && proc.exitCode === null && proc.signalCode === null;
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
  try {
    await launch();
  } catch (err) {
    await stop();
    return { skip: `etcd could not start on 127.0.0.1:${clientPort}: ${(err as Error).message}` };
  }
  return {
    endpoint: `127.0.0.1:${clientPort}`,
    lockUrl: `etcd://127.0.0.1:${clientPort}`,
    logs: () => out,
    alive,
    stop,
    resume: () => proc?.kill('SIGCONT'),
    restart: async () => {
      await stop();
      await launch();
    },
  };
}
