/**
 * Failover, measured the way a client sees it: one writer keeps pushing new
 * commits (following "not leader; leader is URL" hints, else trying the other
 * node), and a failover lasts from the signal to the leader until the first
 * push the other node acknowledges. Crash = SIGKILL, graceful = SIGTERM.
 * After each trial the old leader is restarted and we wait until it is an
 * in-sync passive again, so every trial starts from a healthy pair.
 *
 * Both nodes' roles are sampled throughout, so any trial can be drawn.
 */
import { gitEnv, run, type Cluster, type NodeProc } from '../test/helpers/cluster.js';
import { waitInSync } from './setups.js';
import { sleep } from './stats.js';

export type Role = 'leader' | 'passive' | 'down';
export interface WriteEvent {
  /** ms since the phase began: push started, answer received */
  start: number;
  end: number;
  node: string;
  ok: boolean;
}
export interface RoleSample {
  t: number;
  node: string;
  role: Role;
}
export interface Trial {
  kind: 'crash' | 'graceful';
  victim: string;
  signal_at: number;
  first_ack_at: number | null;
  first_ack_node: string | null;
  ms: number | null;
  restarted_at: number | null;
}
export interface FailoverRun {
  trials: Trial[];
  writes: WriteEvent[];
  roles: RoleSample[];
}

export async function failovers(c: Cluster, chain: { dir: string; shas: string[] }, plan: Array<'crash' | 'graceful'>, say: (s: string) => void): Promise<FailoverRun> {
  const T0 = performance.now();
  const now = () => performance.now() - T0;
  const res: FailoverRun = { trials: [], writes: [], roles: [] };
  let stop = false;

  // Roles of both nodes, sampled every 25 ms (changes only, plus the first sample).
  const last = new Map<string, Role>();
  const poll = (async () => {
    while (!stop) {
      await Promise.all(
        c.nodes.map(async (nd) => {
          let role: Role = 'down';
          if (nd.alive()) {
            try {
              const s = await nd.status();
              role = s.is_leader ? 'leader' : 'passive';
            } catch {
              role = 'down';
            }
          }
          if (last.get(nd.id) !== role) {
            last.set(nd.id, role);
            res.roles.push({ t: Math.round(now()), node: nd.id, role });
          }
        }),
      );
      await sleep(25);
    }
  })();

  // The writer: a fresh commit per attempt, so a "success" is never an up-to-date no-op.
  let next = 0;
  let target: NodeProc = (await c.waitLeader(15_000))!;
  const writer = (async () => {
    while (!stop) {
      if (next >= chain.shas.length) throw new Error('failover writer ran out of commits');
      const sha = chain.shas[next++];
      const start = now();
      const r = await run('git', ['push', '-q', c.repoUrl(target), `${sha}:refs/heads/main`], {
        cwd: chain.dir,
        env: gitEnv({ GIT_DIR: chain.dir, GIT_HTTP_LOW_SPEED_LIMIT: '1000', GIT_HTTP_LOW_SPEED_TIME: '3' }),
        timeoutMs: 20_000,
      });
      res.writes.push({ start: Math.round(start), end: Math.round(now()), node: target.id, ok: r.code === 0 });
      if (r.code === 0) {
        await sleep(40);
        continue;
      }
      const hint = /leader is (http:\/\/\S+)/.exec(r.stderr)?.[1];
      const hinted = c.nodes.find((nd) => hint && nd.url === hint && nd !== target && nd.alive());
      target = hinted ?? c.nodes.find((nd) => nd !== target)!;
      await sleep(10);
    }
  })();

  try {
    for (const kind of plan) {
      const leader = await c.waitLeader(30_000);
      await waitInSync(leader, c.nodes.length - 1);
      await sleep(2000); // acknowledged writes on the old leader, for the picture
      const trial: Trial = { kind, victim: leader.id, signal_at: Math.round(now()), first_ack_at: null, first_ack_node: null, ms: null, restarted_at: null };
      const t = now();
      const exited = leader.stop(kind === 'crash' ? 'SIGKILL' : 'SIGTERM');
      const from = res.writes.length;
      const deadline = t + 30_000;
      while (now() < deadline) {
        const w = res.writes.slice(from).find((e) => e.ok && e.node !== leader.id && e.end > t);
        if (w) {
          trial.first_ack_at = w.end;
          trial.first_ack_node = w.node;
          trial.ms = Math.round(w.end - t);
          break;
        }
        await sleep(5);
      }
      res.trials.push(trial);
      say(`${kind} failover of ${leader.id}: ${trial.ms === null ? 'no acknowledged write within 30 s' : `${trial.ms} ms`}`);
      await exited;
      await sleep(1000); // writes on the new leader before the old one returns
      leader.start();
      trial.restarted_at = Math.round(now());
      await leader.waitUp(30_000);
    }
    const leader = await c.waitLeader(30_000);
    await waitInSync(leader, c.nodes.length - 1);
    await sleep(500);
  } finally {
    stop = true;
    await Promise.all([poll, writer]);
  }
  return res;
}
