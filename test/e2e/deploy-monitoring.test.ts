/**
 * Monitoring as documented: every metric a running node exports is explained in runbook.md, every
 * metric the example alert rules use is one a node exports (with the labels they select), and
 * each alert points at a runbook section that exists.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { ROOT, cleanup, startCluster } from '../helpers/cluster.js';

const runbook = fs.readFileSync(path.join(ROOT, 'runbook.md'), 'utf8');
/** GitHub's anchor for a heading. */
const anchor = (h: string) => h.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
const anchors = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => anchor(m[1])));

describe('monitoring: metrics, alert rules and runbook agree', () => {
  after(cleanup);

  it('every exported metric is in the runbook; every alert uses exported metrics and links an existing section', async () => {
    const c = await startCluster(1);
    const text = await (await fetch(`${c.nodes[0].url}/metrics`)).text();
    const families = new Map<string, string>();
    for (const m of text.matchAll(/^# TYPE (stargate_\w+) (\w+)$/gm)) families.set(m[1], m[2]);
    assert.ok(families.size >= 12, `metrics: ${[...families.keys()]}`);
    for (const name of families.keys()) assert.ok(runbook.includes(`\`${name}`), `runbook.md explains ${name}`);

    const rules = parse(fs.readFileSync(path.join(ROOT, 'compose/prometheus/stargate-alerts.yml'), 'utf8'));
    const all = rules.groups.flatMap((g: any) => g.rules);
    const names = all.map((r: any) => r.alert);
    for (const must of ['StargateRoleFlapping', 'StargateReplicationLag', 'StargateSyncDegraded', 'StargateLockErrors', 'StargateNoLeader']) {
      assert.ok(names.includes(must), `alert ${must}`);
      assert.ok(runbook.includes(must), `runbook.md lists ${must}`);
    }
    for (const r of all) {
      for (const m of String(r.expr).matchAll(/\b(stargate_\w+?)(_bucket|_sum|_count)?\{([^}]*)\}/g)) {
        const type = families.get(m[1]);
        assert.ok(type, `${r.alert}: ${m[1]} is exported`);
        if (m[2]) assert.equal(type, 'histogram', `${r.alert}: ${m[1]}${m[2]}`);
        // Label values the rule selects literally must be ones the node exports.
        for (const l of m[3].matchAll(/(\w+)="([\w|]+)"/g)) {
          if (l[1] === 'job') continue;
          for (const v of l[2].split('|')) {
            const exported = new RegExp(`^${m[1]}\\{[^}]*${l[1]}="${v}"`, 'm').test(text);
            const knownLater = l[1] === 'route' || l[1] === 'status'; // appear once requests were served
            assert.ok(exported || knownLater || /reason/.test(l[1]), `${r.alert}: ${m[1]}{${l[1]}="${v}"}`);
          }
        }
      }
      const link = /^runbook\.md#(.+)$/.exec(r.annotations.runbook);
      assert.ok(link && anchors.has(link[1]), `${r.alert}: runbook link ${r.annotations.runbook}`);
    }
    // The become-leader counter the flapping alert counts starts at 0, so increase() works from the first scrape.
    assert.match(text, /^stargate_ha_leader_changes_total\{event="became_leader"\} \d+$/m);
  });

  it('the runbook has every procedure the operators asked for, and the sections other documents link to', () => {
    for (const h of [
      'architecture-and-guarantees', 'bare-metal-with-keepalived', 'haproxy', 'docker-compose', 'kubernetes', 'monitoring',
      'planned-switchover', 'unplanned-failover', 'replacing-a-node', 'split-brain-and-diverged-refs',
      'cold-start-after-a-complete-outage', 'shared-volume-loss', 'disk-full', 'troubleshooting',
      'durability-modes', 'lock-on-etcd', 'the-failover-drill',
    ]) assert.ok(anchors.has(h), `runbook.md has a section #${h}`);
    for (const link of runbook.matchAll(/\]\(#([^)]+)\)/g)) assert.ok(anchors.has(link[1]), `internal link #${link[1]}`);
    for (const file of runbook.matchAll(/\]\(((?:compose|scripts)\/[^)#]*)\)/g)) assert.ok(fs.existsSync(path.join(ROOT, file[1])), `linked file ${file[1]}`);
  });
});
