/**
 * An idle pair (default settings) holding 10,000 refs, mirrored to the
 * passive the ordinary way; then neither node gets a request while we read
 * both processes' CPU time from /proc.
 */
import path from 'node:path';
import { gitEnv, run, startCluster, waitFor, type Cluster } from '../test/helpers/cluster.js';
import { chain, install, manyRefsRepo } from './fixtures.js';
import { push } from './push.js';
import { cpu, cpuPct, memory } from './proc.js';
import { waitInSync } from './setups.js';
import { sleep } from './stats.js';

export interface IdleRun {
  refs: number;
  seconds: number;
  passive_cpu_pct: number;
  passive_cpu_pct_with_children: number;
  leader_cpu_pct: number;
  leader_cpu_pct_with_children: number;
  rss_mb: { leader: number | null; passive: number | null };
}

export async function idlePair(refs: number, seconds: number, say: (s: string) => void, keep: (c: Cluster) => void = () => {}): Promise<IdleRun> {
  const c = await startCluster(2, { repos: ['kv', 'many'] });
  const [a, b] = c.nodes;
  await waitInSync(a, 1);
  // The refs go straight into the leader's repository (a push of 10,000 new refs spends minutes
  // in the git client), then one ordinary push makes the passive mirror all of them.
  install(await manyRefsRepo(refs - 1, 0, 'refs/heads/idle/'), path.join(a.dataDir, 'repos', 'many.git')); // + main
  const ch = await chain(1, 'idle');
  const r = await push(ch.dir, c.repoUrl(a, 'many'), ch.shas[0], 'refs/heads/trigger');
  if (r.code !== 0) throw new Error(`push to the idle pair failed: ${r.stderr}`);
  const passiveRepo = path.join(b.dataDir, 'repos', 'many.git');
  await waitFor(`the passive to hold ${refs} refs`, async () => {
    const out = await run('git', ['--git-dir', passiveRepo, 'for-each-ref', '--format=x'], { env: gitEnv() });
    return out.stdout.length / 2 >= refs;
  }, 120_000, 500);
  await waitInSync(a, 1);
  say(`idle pair holds ${refs} refs on both nodes; measuring for ${seconds} s`);
  await sleep(3000);
  const a0 = cpu(a.pid);
  const b0 = cpu(b.pid);
  await sleep(seconds * 1000);
  const a1 = cpu(a.pid);
  const b1 = cpu(b.pid);
  const la = cpuPct(a0, a1);
  const lb = cpuPct(b0, b1);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const out: IdleRun = {
    refs,
    seconds,
    passive_cpu_pct: r2(lb.self),
    passive_cpu_pct_with_children: r2(lb.total),
    leader_cpu_pct: r2(la.self),
    leader_cpu_pct_with_children: r2(la.total),
    rss_mb: { leader: memory(a.pid)?.rss_mb ?? null, passive: memory(b.pid)?.rss_mb ?? null },
  };
  for (const nd of [b, a]) await nd.stop('SIGTERM');
  keep(c);
  return out;
}
