/**
 * Issue 6: scripts/failover-drill, run for real (root only): network namespaces, keepalived or
 * HAProxy, two Stargate nodes and a client using `git kv` through stargate.local. Each run is
 * checked for its JSON report and for leaving nothing behind: no namespace, no interface in the
 * root namespace, no process, no hosts file, no temp dir. The failing path (an injected failure)
 * and an interrupt (SIGINT) are held to the same standard.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ROOT, cleanup, run, tempDir } from '../helpers/cluster.js';

const DRILL = path.join(ROOT, 'scripts/failover-drill');
const LEASE = 2500;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces); CI runs as root';
  if (spawnSync('unshare', ['--net', 'true']).status !== 0) return 'cannot create network namespaces here';
  return false;
}

interface Drill {
  ok: boolean;
  floating: string;
  stop: string;
  failed_step: number | null;
  steps: Array<{ step: number; name: string; ok: boolean; ms: number; detail: string }>;
  kill_to_leader_ms: number | null;
  kill_to_vip_ms: number | null;
  kill_to_write_ms: number | null;
  passive_rejected_exit: number | null;
}

const prefixes: string[] = [];
function newPrefix(): string {
  const p = `sgdt-${process.pid.toString(36)}-${prefixes.length}`;
  prefixes.push(p);
  return p;
}

/** What a drill could leave behind, looked up by its prefix; root-namespace links compared to before. */
function leftovers(prefix: string, linksBefore: string): string[] {
  const found: string[] = [];
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const line of ns.split('\n')) if (line.startsWith(prefix)) found.push(`namespace ${line}`);
  const links = rootLinks();
  if (links !== linksBefore) found.push(`root namespace links changed:\n${linksBefore}\n->\n${links}`);
  if (fs.existsSync(`/etc/netns/${prefix}-client`)) found.push(`/etc/netns/${prefix}-client`);
  for (const f of fs.readdirSync(os.tmpdir())) if (f.startsWith(`${prefix}.`)) found.push(`temp dir ${f}`);
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(prefix)) found.push(`process ${pid}: ${cmd}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}
function rootLinks(): string {
  const out = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((l) => l.split(':').slice(0, 2).join(':')).sort().join('\n');
}

async function drill(args: string[]): Promise<{ code: number; out: string; report: Drill; prefix: string; left: string[] }> {
  const prefix = newPrefix();
  const json = path.join(tempDir('drill-json-'), 'drill.json');
  const before = rootLinks();
  const r = await run(DRILL, ['--prefix', prefix, '--json', json, ...args], { timeoutMs: 100_000 });
  const out = r.stdout + r.stderr;
  assert.ok(fs.existsSync(json), `the drill wrote ${json}:\n${out}`);
  const report = JSON.parse(fs.readFileSync(json, 'utf8')) as Drill;
  return { code: r.code, out, report, prefix, left: leftovers(prefix, before) };
}

function assertPassed(d: Awaited<ReturnType<typeof drill>>, floating: string, stop: string) {
  assert.equal(d.code, 0, d.out);
  const r = d.report;
  assert.equal(r.ok, true);
  assert.equal(r.floating, floating);
  assert.equal(r.stop, stop);
  assert.equal(r.failed_step, null);
  assert.deepEqual(r.steps.map((s) => [s.step, s.ok]), [0, 1, 2, 3, 4, 5, 6].map((n) => [n, true]));
  assert.equal(r.passive_rejected_exit, 9);
  assert.match(r.steps[6].detail, /not leader; leader is http:\/\/10\.213\.0\.12:8080/);
  assert.match(r.steps[3].detail, /node-b promoted self to leader with epoch 2/);
  const { kill_to_leader_ms: leader, kill_to_vip_ms: vip, kill_to_write_ms: write } = r;
  assert.ok(leader !== null && vip !== null && write !== null);
  // The floating address follows /readyz, so it cannot move before the new leader is ready. The
  // drill's watchers poll independently (20 ms plus one curl each, slower on a loaded machine), so
  // each time is late by up to one probe: compare them with that much slack.
  const PROBE_MS = 250;
  assert.ok(vip >= leader - PROBE_MS, `address moved at ${vip} ms, well before the leader at ${leader} ms`);
  assert.ok(write >= leader - PROBE_MS, `write acknowledged at ${write} ms, well before the leader at ${leader} ms`);
  if (stop === 'kill') assert.ok(leader <= LEASE + 1000, `a SIGKILLed leader was replaced after ${leader} ms`);
  else assert.ok(leader <= 1000, `a SIGTERMed leader was replaced after ${leader} ms`);
  assert.ok(write <= leader + 4000, `first write ${write - leader} ms after the new leader`);
  assert.match(d.out, /Timeline \(SIG(KILL|TERM) of node-a's Stargate/);
  assert.match(d.out, /^\s+\+\d+ ms {2}first acknowledged git kv set through stargate\.local$/m);
  assert.deepEqual(d.left, [], 'nothing left behind');
  console.log(`# drill ${floating}/${stop}: kill->leader ${leader} ms, kill->address ${vip} ms, kill->write ${write} ms`);
}

describe('scripts/failover-drill', { skip: skipReason() }, () => {
  after(async () => {
    await cleanup();
    // Only matters if a drill was itself killed by a timeout: remove what its prefix names.
    for (const p of prefixes) spawnSync(DRILL, ['--clean', '--prefix', p]);
  });

  it('keepalived, SIGKILL: all six steps pass, the timeline is printed, nothing is left behind', { timeout: 110_000 }, async () => {
    assertPassed(await drill([]), 'keepalived', 'kill');
  });

  it('HAProxy in the client namespace, SIGTERM: all six steps pass, nothing is left behind', { timeout: 110_000 }, async () => {
    assertPassed(await drill(['--floating', 'haproxy', '--stop', 'term']), 'haproxy', 'term');
  });

  it('a failing step exits non-zero, reports the step, and still removes everything', { timeout: 110_000 }, async () => {
    const d = await drill(['--inject-failure', '4']);
    assert.equal(d.code, 1, d.out);
    assert.equal(d.report.ok, false);
    assert.equal(d.report.failed_step, 4);
    assert.deepEqual(d.report.steps.map((s) => s.ok), [true, true, true, true, false]);
    assert.match(d.report.steps[4].detail, /injected failure/);
    assert.match(d.out, /FAILED step 4/);
    assert.match(d.out, /----- last lines of stargate-node-b\.log/, 'a failed run shows the logs');
    assert.deepEqual(d.left, []);
  });

  it('SIGINT in the middle of the failover exits 130 and removes everything', { timeout: 110_000 }, async () => {
    const prefix = newPrefix();
    const json = path.join(tempDir('drill-json-'), 'drill.json');
    const before = rootLinks();
    const child = spawn(DRILL, ['--prefix', prefix, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (!sent && /step 3:/.test(out)) sent = child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    assert.equal(code, 130, out);
    assert.match(out, /interrupted/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8')) as Drill;
    assert.equal(report.ok, false);
    assert.equal(report.failed_step, 3);
    assert.deepEqual(leftovers(prefix, before), []);
  });
});
