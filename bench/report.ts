/** The Markdown tables printed at the end of a run (and pasted into the README). */
import { LABELS, SETUP_KEYS, type SetupKey } from './setups.js';
import type { Summary } from './stats.js';

export interface Goal {
  key: string;
  target: string;
  value: number | null;
  met: boolean | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function markdown(r: any): string {
  const keys = SETUP_KEYS.filter((k) => r.setups.includes(k));
  const f = (v: number | null | undefined, d = 0) => (v === null || v === undefined ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  const trio = (s: Summary | null | undefined) => (s ? `${f(s.p50)} / ${f(s.p95)} / ${f(s.p99)}` : '–');
  const duo = (s: Summary | null | undefined) => (s ? `${f(s.p50)} / ${f(s.p95)}` : '–');
  const row = (label: string, cell: (k: SetupKey) => string) => `| ${label} | ${keys.map(cell).join(' | ')} |`;
  const lines: string[] = [];
  lines.push(`| ${r.mode} run | ${keys.map((k) => LABELS[k]).join(' | ')} |`, `|---|${keys.map(() => '---:').join('|')}|`);
  if (r.push_ms) {
    lines.push(row(`\`git push\` of one commit, ms p50 / p95 / p99 (n=${r.config.push_rounds})`, (k) => trio(r.push_ms[k])));
    lines.push(row('pushes refused or failed', (k) => f(r.push_failures?.[k] ?? 0)));
    lines.push(row('push p50 relative to baseline', (k) => (r.push_ms[k] && r.push_ms.baseline ? `${f(r.push_ms[k].p50 / r.push_ms.baseline.p50, 2)}×` : '–')));
  }
  if (r.kv_set_ms) lines.push(row(`\`git kv set\`, ms p50 / p95 (n=${r.config.kv_set_rounds})`, (k) => duo(r.kv_set_ms[k])));
  if (r.kv_mset_ms) lines.push(row(`\`git kv mset\` of ${f(r.config.mset_keys)} keys, s (median)`, (k) => (r.kv_mset_ms[k] ? f(r.kv_mset_ms[k].p50 / 1000, 2) : '–')));
  if (r.clone) {
    lines.push(row(`clone of a ${f(r.clone.pack_mb)} MB repository, MB/s (median of ${r.config.clone_rounds})`, (k) => f(r.clone.mb_per_s[k], 1)));
    lines.push(row('clone throughput relative to baseline', (k) => (r.clone.mb_per_s[k] && r.clone.mb_per_s.baseline ? `${f(r.clone.mb_per_s[k] / r.clone.mb_per_s.baseline, 2)}×` : '–')));
  }
  if (r.refs) {
    const op = (name: string, label: string) => lines.push(row(`${label}, ms p50`, (k) => f(r.refs.ms[k]?.[name]?.p50)));
    op('ls_remote_all', `\`ls-remote\`, all ${f(r.refs.count)} refs (v2)`);
    op('ls_remote_tags', '`ls-remote --tags` (v2 ref-prefix, 25,000 refs)');
    op('fetch_one_v2', 'fetch of one branch (v2 ref-prefix)');
    op('fetch_one_v0', 'fetch of one branch (protocol v0)');
  }
  if (r.writers) {
    lines.push(row(`${r.config.writers} concurrent writers, acknowledged pushes/s`, (k) => f(r.writers[k]?.txn_per_s, 1)));
    lines.push(row(`${r.config.writers} concurrent writers, push ms p50 / p95`, (k) => duo(r.writers[k]?.latency_ms)));
  }
  if (r.rss_mb) {
    lines.push(row('resident memory after the run, MB (leader / passive)', (k) => {
      const m = r.rss_mb[k];
      if (!m) return '–';
      return Object.values(m).map((v: any) => f(v?.rss_mb)).join(' / ');
    }));
  }

  const ha: string[] = [];
  if (r.replication_lag_ms) ha.push(`| replication lag, async: push acknowledged → ref on the passive, ms p50 / p95 / p99 (n=${r.replication_lag_ms.n}) | ${trio(r.replication_lag_ms)} |`);
  if (r.sync_ref_on_passive_at_ack_pct !== undefined && r.sync_ref_on_passive_at_ack_pct !== null) ha.push(`| sync: pushes whose ref the passive already held when the client got "ok" | ${f(r.sync_ref_on_passive_at_ack_pct, 1)} % |`);
  if (r.failover) {
    const fo = (k: 'crash' | 'graceful', label: string) => {
      const s = r.failover[k];
      if (s?.n) ha.push(`| ${label}: signal → first acknowledged write on the new leader, ms median / max (n=${s.n}) | ${f(s.median_ms)} / ${f(s.max_ms)} |`);
    };
    fo('crash', 'crash failover (SIGKILL of the leader, default lease 2,500 ms)');
    fo('graceful', 'graceful handover (SIGTERM of the leader)');
  }
  if (r.idle) {
    ha.push(`| idle passive with ${f(r.idle.refs)} refs, CPU over ${r.idle.seconds} s, % of one core (node process / with its git children) | ${f(r.idle.passive_cpu_pct, 2)} / ${f(r.idle.passive_cpu_pct_with_children, 2)} |`);
    ha.push(`| idle leader, same pair, % of one core (node process / with its git children) | ${f(r.idle.leader_cpu_pct, 2)} / ${f(r.idle.leader_cpu_pct_with_children, 2)} |`);
  }
  if (ha.length) lines.push('', '| high availability (Stargate pair, default settings unless noted) | |', '|---|---:|', ...ha);

  if (r.goals?.length) {
    lines.push('', '| goal | target | measured | |', '|---|---|---:|---|');
    for (const g of r.goals as Goal[]) lines.push(`| \`${g.key}\` | ${g.target} | ${g.value === null ? '–' : f(g.value, g.value < 10 ? 2 : 0)} | ${g.met === null ? 'not measured' : g.met ? 'met' : '**missed**'} |`);
  }
  return lines.join('\n');
}
