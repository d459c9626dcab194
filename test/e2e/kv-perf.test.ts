/**
 * Issue 3: speed. A 10,000-key mset is one transaction built without a
 * process per key, and single-set latency is measured end to end (client
 * process start to acknowledged push) against a real server. Figures are
 * printed as test diagnostics; bounds are loose because CI machines are shared.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, git, percentile, startCluster, tempDir, type Cluster } from '../helpers/cluster.js';
import { cloneOf, kvIn, serverTips, type Kv } from './kv-harness.js';

/** How many git processes a command started, from git's own trace2 events. */
function gitProcesses(traceFile: string): number {
  if (!fs.existsSync(traceFile)) return 0;
  return fs.readFileSync(traceFile, 'utf8').split('\n').filter((l) => l.includes('"event":"version"')).length;
}

describe('git kv speed', () => {
  let c: Cluster;
  let kv: Kv;
  before(async () => {
    c = await startCluster(1);
    kv = kvIn(await cloneOf(c.repoUrl(c.nodes[0])));
  });
  after(cleanup);

  it('mset of 10,000 keys: one transaction, a handful of git processes', async () => {
    const batch = path.join(tempDir(), 'b10k.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 10_000; i++) lines.push(JSON.stringify({ op: 'set', key: `bulk/${String(i).padStart(5, '0')}`, value_b64: Buffer.from(`value ${i} `.repeat(4)).toString('base64') }));
    fs.writeFileSync(batch, lines.join('\n') + '\n');
    const trace = path.join(tempDir(), 'trace2.json');
    const r = await kv(['--ns', 'bulk', '--json', 'mset', '--file', batch], { env: { GIT_TRACE2_EVENT: trace } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).set, 10_000);
    const procs = gitProcesses(trace);
    console.log(`# git kv mset 10,000 keys (one transaction): ${(r.ms / 1000).toFixed(2)} s wall, ${procs} git processes`);
    assert.ok(procs > 0 && procs < 20, `git processes started for 10,000 keys: ${procs}`);
    const tips = await serverTips(c.nodes[0].dataDir, 'bulk');
    const server = ['--git-dir', path.join(c.nodes[0].dataDir, 'repos', 'kv.git')];
    assert.equal((await git([...server, 'rev-list', '--count', tips.ledger])).stdout.trim(), '1');
    const l = await kv(['--ns', 'bulk', 'list']);
    assert.equal(l.stdout.trim().split('\n').length, 10_000);
    console.log(`# git kv list of 10,000 keys: ${(l.ms / 1000).toFixed(2)} s wall`);
    assert.ok(r.ms < 120_000, `mset 10k took ${r.ms} ms`);
  });

  it('single set latency, 30 sequential sets (client start to acknowledgement)', async () => {
    const ms: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await kv(['--ns', 'latency', 'set', `k${i % 5}`, `v${i}`]);
      assert.equal(r.code, 0, r.stderr);
      ms.push(r.ms);
    }
    const get = await kv(['--ns', 'latency', 'get', 'k4']);
    assert.equal(get.stdout, 'v29');
    const p50 = percentile(ms, 50);
    const p95 = percentile(ms, 95);
    console.log(`# git kv set latency over 30 sets: p50 ${p50.toFixed(0)} ms, p95 ${p95.toFixed(0)} ms (includes ~110 ms node start); get ${get.ms.toFixed(0)} ms`);
    assert.ok(p50 < 5_000, `set p50 ${p50} ms`);
  });
});
