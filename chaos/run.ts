/**
 * `npm run chaos [-- --quick] [--faults N] [--writers N] [--nodes N] [--seed S] [--json FILE] [--logs DIR]`
 *
 * Concurrent `git kv` writers (unique keys, some compare-and-swap) against a
 * real cluster on loopback, while faults are injected at random: SIGKILL,
 * SIGSTOP past the lease and SIGTERM of the leader, SIGKILL of a passive,
 * and restarts. Every operation's start, end and exit code is recorded; at
 * the end the checker (chaos/checker.ts) decides whether anything was lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { check, longestUnavailability, type Commit, type Epoch, type Op } from './checker.js';
import { kvRead, kvWrite } from './kv.js';
import { cleanup, git, percentile, startCluster, tempDir, waitFor, type Cluster, type NodeProc } from '../test/helpers/cluster.js';

type FaultKind = 'kill-leader' | 'stop-leader' | 'term-leader' | 'kill-passive';
interface Fault {
  kind: FaultKind;
  node: string;
  at: number;
  epochBefore: number;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const quick = flag('quick');
const wantFaults = opt('faults', quick ? 8 : 40);
const writers = opt('writers', 3);
const nodeCount = opt('nodes', 2);
const startSeed = opt('seed', Date.now() % 100000);
const text = (name: string) => (flag(name) ? args[args.indexOf(`--${name}`) + 1] : null);
const jsonOut = text('json');
const logsDir = text('logs');
const LEASE = 2500;

/** mulberry32. Faults and writers draw from separate streams, so a --seed gives the same fault schedule. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rng = mulberry32(startSeed);
const writerRng = mulberry32(startSeed ^ 0x5bd1e995);
const pick = <T>(xs: T[]) => xs[Math.floor(rng() * xs.length)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (msg: string) => console.log(`${new Date().toISOString().slice(11, 23)} ${msg}`);

async function leaderOf(c: Cluster): Promise<NodeProc | null> {
  return c.leader();
}

async function healthy(c: Cluster): Promise<NodeProc> {
  return waitFor('a leader with an in-sync passive', async () => {
    for (const n of c.nodes) if (!n.alive()) n.start();
    const l = await leaderOf(c);
    if (!l) return null;
    const s = await l.status();
    return s.peers.filter((p: { in_sync: boolean }) => p.in_sync).length >= Math.min(1, nodeCount - 1) ? l : null;
  }, 60_000, 100);
}

async function main(): Promise<void> {
  log(`chaos: ${nodeCount} nodes, ${writers} writers, ${wantFaults} faults, seed ${startSeed}`);
  const c = await startCluster(nodeCount, { extraArgs: ['--lease-ms', String(LEASE)] });
  const ops: Op[] = [];
  const faults: Fault[] = [];
  let stop = false;
  let opId = 0;
  const t0 = Date.now();

  // Writers: each has its own clone with one remote per node, and follows "not leader" hints.
  const writerLoops = Array.from({ length: writers }, async (_, w) => {
    const dir = path.join(tempDir('stargate-chaos-'), `w${w}`);
    fs.mkdirSync(dir);
    await git(['init', '-q', dir]);
    for (const n of c.nodes) await git(['remote', 'add', n.id, c.repoUrl(n)], dir);
    let target = c.nodes[0];
    for (let i = 0; !stop; i++) {
      const kind: Op['kind'] = writerRng() < 0.2 ? 'cas' : 'set';
      const key = `w${w}/k${i}`;
      const value = `v-${w}-${i}-${Math.floor(writerRng() * 1e9).toString(36)}`;
      const start = Date.now();
      const r = await kvWrite(dir, target.id, key, value, kind === 'cas');
      const op: Op = { id: ++opId, writer: w, kind, key, value, node: target.id, start, end: Date.now(), exit: r.code };
      ops.push(op);
      if (r.code === 0) continue;
      const hint = /leader is (http:\/\/[^\s;]+)/.exec(r.stderr + r.stdout);
      const next = hint ? c.nodes.find((n) => hint[1].startsWith(n.url)) : null;
      target = next ?? c.nodes[(c.nodes.indexOf(target) + 1) % c.nodes.length];
      if (!next) await sleep(50);
    }
  });

  // Faults.
  try {
    for (let f = 0; f < wantFaults; f++) {
      const leader = await healthy(c);
      await sleep(1000 + rng() * 2000);
      const epochBefore = (await leader.status()).epoch as number;
      const passives = c.nodes.filter((n) => n !== leader && n.alive());
      const kind: FaultKind = passives.length > 0 ? pick(['kill-leader', 'kill-leader', 'stop-leader', 'term-leader', 'kill-passive']) : 'kill-leader';
      const victim = kind === 'kill-passive' ? pick(passives) : leader;
      const fault: Fault = { kind, node: victim.id, at: Date.now(), epochBefore };
      faults.push(fault);
      log(`fault ${f + 1}/${wantFaults}: ${kind} ${victim.id} (epoch ${epochBefore})`);
      if (kind === 'kill-leader' || kind === 'kill-passive') await victim.stop('SIGKILL');
      else if (kind === 'term-leader') victim.signal('SIGTERM');
      else {
        victim.signal('SIGSTOP');
        await sleep(LEASE + 200 + rng() * 1500);
        victim.signal('SIGCONT');
      }
      if (kind !== 'stop-leader') {
        await sleep(1000 + rng() * 2000);
        if (!victim.alive()) victim.start();
      }
    }
    // The writers stop only once the cluster took a write after the last fault too.
    const last = faults[faults.length - 1];
    await waitFor('an acknowledged write after the last fault', () => ops.some((o) => o.exit === 0 && o.start >= last.at), 60_000, 50).catch((err) => log(String(err)));
  } finally {
    stop = true;
  }
  await Promise.all(writerLoops);
  const runEnd = Date.now();

  // Converge, then read the truth from the final leader.
  const leader = await healthy(c);
  await sleep(500);
  const finalRead = await kvRead(leader.dataDir);
  const gitDir = path.join(leader.dataDir, 'repos', 'kv.git');
  const merges = await git(['--git-dir', gitDir, 'rev-list', '--min-parents=2', '--count', 'refs/kv/main', 'refs/kv-index/main']);
  const ledgerLinear = merges.code === 0 && merges.stdout.trim() === '0';

  const epochs: Epoch[] = fs.readdirSync(path.join(c.sharedDir, 'epochs')).map((e) => ({
    epoch: Number(e),
    allocatedAt: fs.statSync(path.join(c.sharedDir, 'epochs', e)).mtimeMs,
  }));
  const commits: Commit[] = [];
  for (const n of c.nodes) {
    const ownGitDir = path.join(n.dataDir, 'repos', 'kv.git');
    const diverged = (await git(['--git-dir', ownGitDir, 'for-each-ref', '--format=%(refname)', 'refs/stargate/diverged/'])).stdout.split('\n').filter(Boolean);
    for (const line of n.logs.split('\n')) {
      if (!line.includes('"event":"push_committed"')) continue;
      const e = JSON.parse(line) as { epoch: number; checked_at: string; updates: string[] };
      const oid = e.updates.find((u) => u.startsWith('refs/kv/main '))?.split(' ')[1] ?? null;
      let preserved = !oid;
      if (oid) {
        preserved = (await git(['--git-dir', gitDir, 'merge-base', '--is-ancestor', oid, 'refs/kv/main'])).code === 0;
        for (const ref of diverged) if (!preserved) preserved = (await git(['--git-dir', ownGitDir, 'merge-base', '--is-ancestor', oid, ref])).code === 0;
      }
      commits.push({ node: n.id, epoch: e.epoch, checkedAt: Date.parse(e.checked_at), ledgerOid: oid, preserved });
    }
  }
  const verdict = check(ops, commits, epochs, { values: finalRead, ledgerLinear });

  // Failover figures: fault -> first acknowledged write after it.
  const leaderFaults = faults.filter((f) => f.kind !== 'kill-passive');
  const recoveries = leaderFaults.map((f) => {
    const first = ops.filter((o) => o.exit === 0 && o.start >= f.at).sort((a, b) => a.end - b.end)[0];
    return first ? first.end - f.at : null;
  });
  const rec = recoveries.filter((x): x is number => x !== null);
  const byExit: Record<string, number> = {};
  for (const o of ops) byExit[o.exit] = (byExit[o.exit] ?? 0) + 1;
  const report = {
    seed: startSeed,
    nodes: nodeCount,
    writers,
    duration_s: Math.round((runEnd - t0) / 1000),
    operations: ops.length,
    acknowledged: verdict.acknowledged,
    lost: verdict.lost.length,
    stale_epoch_writes: verdict.staleCommits.length,
    vanished_unacknowledged: verdict.vanished.length,
    ledger_linear: ledgerLinear,
    faults: faults.length,
    faults_by_kind: Object.fromEntries(['kill-leader', 'stop-leader', 'term-leader', 'kill-passive'].map((k) => [k, faults.filter((f) => f.kind === k).length])),
    failovers: Math.max(0, Math.max(...epochs.map((e) => e.epoch)) - 1),
    exits: byExit,
    longest_write_unavailability_ms: longestUnavailability(ops, t0, runEnd),
    unrecovered_faults: recoveries.length - rec.length,
    failover_to_first_ack_ms: { median: rec.length ? percentile(rec, 50) : null, max: rec.length ? Math.max(...rec) : null },
    // By fault: a frozen leader holds the pushes already sent to it until it resumes or the
    // client's low-speed timeout (3 s) gives up, so SIGSTOP takes longer than SIGKILL.
    failover_to_first_ack_by_fault_ms: Object.fromEntries(
      (['kill-leader', 'stop-leader', 'term-leader'] as const).map((k) => {
        const xs = leaderFaults.map((f, i) => (f.kind === k ? recoveries[i] : null)).filter((x): x is number => x !== null);
        return [k, xs.length ? { median: percentile(xs, 50), max: Math.max(...xs) } : null];
      }),
    ),
    committed_pushes_checked: commits.length,
    ok: verdict.ok,
    problems: verdict.problems.slice(0, 50),
    fault_log: faults.map((f) => ({ ...f, at_s: +((f.at - t0) / 1000).toFixed(2) })),
  };
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(report, null, 2) + '\n');
  if (logsDir) {
    // Every node's log (all its runs) and every operation, times in ms since the start.
    fs.mkdirSync(logsDir, { recursive: true });
    for (const n of c.nodes) fs.writeFileSync(path.join(logsDir, `${n.id}.log`), n.logs);
    const rel = (o: Op) => ({ ...o, start: o.start - t0, end: o.end - t0 });
    fs.writeFileSync(path.join(logsDir, 'ops.jsonl'), ops.map((o) => JSON.stringify(rel(o))).join('\n') + '\n');
  }
  console.log(`
| chaos (seed ${report.seed}) | value |
|---|---|
| operations | ${report.operations} |
| acknowledged | ${report.acknowledged} |
| lost acknowledged writes | ${report.lost} |
| writes accepted in a stale epoch | ${report.stale_epoch_writes} |
| unacknowledged commits neither kept nor preserved | ${report.vanished_unacknowledged} |
| ledger linear | ${report.ledger_linear} |
| faults | ${report.faults} (${Object.entries(report.faults_by_kind).map(([k, v]) => `${k} ${v}`).join(', ')}) |
| failovers (new epochs) | ${report.failovers} |
| longest write unavailability | ${report.longest_write_unavailability_ms} ms |
| fault -> first acknowledged write | median ${report.failover_to_first_ack_ms.median} ms, max ${report.failover_to_first_ack_ms.max} ms |
| by fault (median / max) | ${Object.entries(report.failover_to_first_ack_by_fault_ms).map(([k, v]) => `${k} ${v ? `${v.median} / ${v.max} ms` : '-'}`).join(', ')} |
| leader faults never followed by an acknowledged write | ${report.unrecovered_faults} |
`);
  if (!verdict.ok) console.log('PROBLEMS:\n' + verdict.problems.join('\n'));
  await cleanup();
  process.exit(verdict.ok && faults.length >= wantFaults && report.unrecovered_faults === 0 ? 0 : 1);
}

process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
main().catch(async (err) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
