/**
 * `npm run bench [-- --quick] [--json FILE] [--svg FILE] [--logs DIR] [--only PHASE,...]`
 *
 * Plain git-http-backend, a single Stargate node and Stargate pairs (async,
 * sync) on this machine, in one run, side by side. Phases: push (latency and
 * async replication lag), kv (git kv set, mset), clone, refs, writers,
 * failover (crash and graceful), idle (passive CPU). Prints Markdown tables;
 * --json writes every figure, --svg draws the first crash failover.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanup, startCluster, type Cluster } from '../test/helpers/cluster.js';
import { bigRepo, chain, install, manyRefsRepo, packBytes } from './fixtures.js';
import { failovers } from './failover.js';
import { idlePair } from './idle.js';
import { kvAvailable, kvSetTimes, msetTimes } from './kv.js';
import { memory } from './proc.js';
import { pushLatency } from './push.js';
import { cloneTimes, refTimes, REF_OPS, type RefOp } from './reads.js';
import { markdown, type Goal } from './report.js';
import { startBaseline, startStargate, waitInSync, type Setup } from './setups.js';
import { median, round, summarize } from './stats.js';
import { failoverSvg } from './svg.js';
import { concurrentWriters } from './writers.js';

const PHASES = ['push', 'kv', 'clone', 'refs', 'writers', 'failover', 'idle'] as const;
type Phase = (typeof PHASES)[number];

const argv = process.argv.slice(2);
const opt = (name: string) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : undefined);
const quick = argv.includes('--quick');
const only = new Set((opt('only') ?? PHASES.join(',')).split(',') as Phase[]);
for (const p of only) if (!PHASES.includes(p)) throw new Error(`--only: unknown phase ${p} (${PHASES.join(', ')})`);

const cfg = quick
  ? { push_warmup: 2, push_rounds: 30, kv_set_warmup: 1, kv_set_rounds: 10, mset_keys: 10_000, mset_rounds: 1, clone_mb: 20, clone_rounds: 2, refs: 50_000, refs_rounds: 3, writers: 8, writer_pushes: 6, failovers: 2, idle_refs: 10_000, idle_seconds: 10 }
  : { push_warmup: 5, push_rounds: 200, kv_set_warmup: 3, kv_set_rounds: 100, mset_keys: 10_000, mset_rounds: 3, clone_mb: 100, clone_rounds: 5, refs: 50_000, refs_rounds: 10, writers: 8, writer_pushes: 25, failovers: 10, idle_refs: 10_000, idle_seconds: 60 };

const logsDir = opt('logs');
/** With --logs DIR, keep every node's log there (the temp dirs are removed at the end). */
function saveLogs(label: string, c: Cluster | null): void {
  if (!logsDir || !c) return;
  fs.mkdirSync(logsDir, { recursive: true });
  for (const nd of c.nodes) fs.writeFileSync(path.join(logsDir, `${label}-${nd.id}.log`), nd.logs);
}

const T0 = Date.now();
const say = (s: string) => process.stderr.write(`[bench ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s] ${s}\n`);

function machine() {
  const osName = /^PRETTY_NAME="?([^"\n]*)/m.exec(fs.existsSync('/etc/os-release') ? fs.readFileSync('/etc/os-release', 'utf8') : '')?.[1] ?? os.type();
  return {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    ram_gb: Math.round(os.totalmem() / 2 ** 30),
    os: osName,
    kernel: os.release(),
    node: process.version,
    git: execFileSync('git', ['--version'], { encoding: 'utf8' }).trim().replace(/^git version /, ''),
    load_avg_at_start: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

async function main() {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const r: Record<string, any> = { mode: quick ? 'quick' : 'full', date: new Date().toISOString(), machine: machine(), config: cfg, phases: [...only] };
  const setupPhases = (['push', 'kv', 'clone', 'refs', 'writers'] as Phase[]).filter((p) => only.has(p));
  const setups: Setup[] = [];

  if (setupPhases.length) {
    say('starting the four setups');
    setups.push(await startBaseline(), await startStargate('single'), await startStargate('async'), await startStargate('sync'));
    r.setups = setups.map((s) => s.key);
    if (only.has('clone') || only.has('refs')) {
      say(`generating a ${cfg.clone_mb} MB repository and one with ${cfg.refs} refs`);
      const big = only.has('clone') ? await bigRepo(cfg.clone_mb) : null;
      const refs = only.has('refs') ? await manyRefsRepo(cfg.refs / 2, cfg.refs / 2) : null;
      for (const s of setups) {
        await s.install(async (gitDir, repo) => {
          if (repo === 'big' && big) install(big, gitDir);
          if (repo === 'refs' && refs) install(refs, gitDir);
        });
      }
      if (big) r.clone = { pack_mb: Math.round(packBytes(big) / 2 ** 20) };
      if (refs) r.refs = { count: cfg.refs + 1 };
    }
  } else r.setups = [];

  if (only.has('push')) {
    say(`push latency: ${cfg.push_rounds} pushes per setup, round-robin`);
    const ch = await chain(cfg.push_warmup + cfg.push_rounds, 'push');
    const p = await pushLatency(setups, ch, cfg.push_warmup, cfg.push_rounds, say);
    r.push_ms = Object.fromEntries(setups.map((s) => [s.key, summarize(p.latency[s.key] ?? [])]));
    r.push_failures = p.failures;
    r.push_p95_ms_sync = r.push_ms.sync?.p95 ?? null;
    r.push_ratio_async = r.push_ms.async && r.push_ms.baseline ? round(r.push_ms.async.p50 / r.push_ms.baseline.p50, 3) : null;
    r.replication_lag_ms = summarize(p.lag);
    r.replication_lag_timeouts = p.lagTimeouts;
    r.replication_lag_p95_ms = r.replication_lag_ms?.p95 ?? null;
    r.sync_ref_on_passive_at_ack_pct = p.syncPushes ? round((100 * p.syncVisibleAtAck) / p.syncPushes, 1) : null;
  }

  if (only.has('kv')) {
    if (!kvAvailable()) say('git kv is not built: skipping the kv figures');
    else {
      say(`git kv set: ${cfg.kv_set_rounds} per setup`);
      const sets = await kvSetTimes(setups, cfg.kv_set_warmup, cfg.kv_set_rounds, say);
      r.kv_set_ms = Object.fromEntries(setups.map((s) => [s.key, summarize(sets[s.key] ?? [])]));
      say(`git kv mset of ${cfg.mset_keys} keys: ${cfg.mset_rounds} per setup`);
      const msets = await msetTimes(setups, cfg.mset_keys, cfg.mset_rounds, say);
      r.kv_mset_ms = Object.fromEntries(setups.map((s) => [s.key, summarize(msets[s.key] ?? [])]));
    }
  }

  if (only.has('clone')) {
    say(`clone of ${r.clone.pack_mb} MB: ${cfg.clone_rounds} per setup`);
    const t = await cloneTimes(setups, cfg.clone_rounds, say);
    const mb = r.clone.pack_mb as number;
    r.clone.ms = Object.fromEntries(setups.map((s) => [s.key, summarize(t[s.key] ?? [])]));
    r.clone.mb_per_s = Object.fromEntries(setups.map((s) => [s.key, round(mb / ((median(t[s.key] ?? []) ?? NaN) / 1000), 1)]));
    // The default deployment (a sync pair) against the baseline.
    r.clone_ratio = r.clone.mb_per_s.sync && r.clone.mb_per_s.baseline ? round(r.clone.mb_per_s.sync / r.clone.mb_per_s.baseline, 3) : null;
  }

  if (only.has('refs')) {
    say(`ref listing on ${cfg.refs + 1} refs: ${cfg.refs_rounds} rounds`);
    const t = await refTimes(setups, cfg.refs_rounds, say);
    r.refs.ms = Object.fromEntries(setups.map((s) => [s.key, Object.fromEntries((Object.keys(REF_OPS) as RefOp[]).map((op) => [op, summarize(t[s.key]?.[op] ?? [])]))]));
  }

  if (only.has('writers')) {
    const chains = [];
    for (let w = 0; w < cfg.writers; w++) chains.push(await chain(cfg.writer_pushes, `writer ${w}`));
    r.writers = {};
    for (const s of setups) {
      say(`${cfg.writers} concurrent writers on ${s.key}`);
      const w = await concurrentWriters(s, chains, cfg.writer_pushes, 60_000);
      const { latency, ...rest } = w;
      r.writers[s.key] = { ...rest, latency_ms: summarize(latency) };
    }
  }

  if (setups.length) {
    r.rss_mb = {};
    for (const s of setups) r.rss_mb[s.key] = Object.fromEntries(s.procs().map((p) => [p.role, memory(p.pid)]));
    for (const s of setups) await s.stop();
    for (const s of setups) saveLogs(s.key, s.cluster);
    await cleanup();
  }

  if (only.has('failover')) {
    const plan: Array<'crash' | 'graceful'> = [];
    for (let i = 0; i < cfg.failovers; i++) plan.push('crash', 'graceful');
    say(`failover: ${cfg.failovers} crash and ${cfg.failovers} graceful, pair with default settings`);
    const c = await startCluster(2, { repos: ['kv'] });
    await waitInSync(c.nodes[0], 1);
    const ch = await chain(300 * plan.length + 500, 'failover');
    const fo = await failovers(c, ch, plan, say);
    for (const nd of [...c.nodes].reverse()) await nd.stop('SIGTERM');
    saveLogs('failover', c);
    const stat = (kind: 'crash' | 'graceful') => {
      const ms = fo.trials.filter((t) => t.kind === kind && t.ms !== null).map((t) => t.ms!);
      return { n: ms.length, failed: fo.trials.filter((t) => t.kind === kind && t.ms === null).length, median_ms: median(ms), max_ms: ms.length ? Math.max(...ms) : null, all_ms: ms };
    };
    r.failover = { crash: stat('crash'), graceful: stat('graceful'), trials: fo.trials, writes: fo.writes, roles: fo.roles };
    r.failover_crash_median_ms = r.failover.crash.median_ms;
    r.failover_graceful_median_ms = r.failover.graceful.median_ms;
    const svgPath = opt('svg');
    const first = fo.trials.find((t) => t.kind === 'crash' && t.ms !== null);
    if (svgPath && first) {
      const sub = 'Stargate pair, default settings (sync replication, lease 2,500 ms); one client pushing a new commit after every answer';
      fs.writeFileSync(svgPath, failoverSvg(fo, first, c.nodes.map((n) => n.id), sub));
      say(`wrote ${svgPath}`);
    }
    await cleanup();
  }

  if (only.has('idle')) {
    say(`idle pair with ${cfg.idle_refs} refs`);
    r.idle = await idlePair(cfg.idle_refs, cfg.idle_seconds, say, (c) => saveLogs('idle', c));
    r.idle_passive_cpu_pct = r.idle.passive_cpu_pct_with_children;
    await cleanup();
  }

  const goal = (key: string, target: string, ok: (v: number) => boolean): Goal => {
    const v = r[key] ?? null;
    return { key, target, value: v, met: v === null ? null : ok(v) };
  };
  r.goals = [
    goal('push_p95_ms_sync', '≤ 150 ms', (v) => v <= 150),
    goal('push_ratio_async', '≤ 1.15', (v) => v <= 1.15),
    goal('clone_ratio', '≥ 0.95', (v) => v >= 0.95),
    goal('replication_lag_p95_ms', '≤ 100 ms', (v) => v <= 100),
    goal('failover_crash_median_ms', '≤ 2,500 ms', (v) => v <= 2500),
    goal('failover_graceful_median_ms', '≤ 500 ms', (v) => v <= 500),
    goal('idle_passive_cpu_pct', '≤ 1 %', (v) => v <= 1),
  ];
  r.machine.load_avg_at_end = os.loadavg().map((v) => Math.round(v * 100) / 100);
  r.seconds = Math.round((Date.now() - T0) / 1000);

  const jsonPath = opt('json');
  if (jsonPath) {
    fs.writeFileSync(jsonPath, JSON.stringify(r, null, 2) + '\n');
    say(`wrote ${jsonPath}`);
  }
  const m = r.machine;
  console.log(`\n${m.cpus} × ${m.cpu_model}, ${m.ram_gb} GB RAM, ${m.os} (Linux ${m.kernel}), Node ${m.node}, git ${m.git}; load average ${m.load_avg_at_start.join(' ')} at start; ${r.seconds} s\n`);
  console.log(markdown(r));
}

const interrupted = async () => {
  await cleanup();
  process.exit(130);
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);
main().then(
  () => cleanup(),
  async (err) => {
    console.error(err);
    await cleanup();
    process.exitCode = 1;
  },
);
