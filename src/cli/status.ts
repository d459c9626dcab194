import type { Command } from 'commander';
import type { HaStatus } from '../http/app.js';

const DEFAULT_URL = process.env.STARGATE_URL ?? 'http://127.0.0.1:8080';

export async function fetchStatus(url: string, timeoutMs = 2000): Promise<HaStatus> {
  const r = await fetch(`${url.replace(/\/$/, '')}/api/v1/ha/status`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return (await r.json()) as HaStatus;
}

/** The status of the node at URL and of every node it knows about (its leader and peers). */
export async function clusterStatus(url: string): Promise<Array<{ url: string; status?: HaStatus; error?: string }>> {
  const seen = new Map<string, { url: string; status?: HaStatus; error?: string }>();
  const queue = [url.replace(/\/$/, '')];
  while (queue.length > 0 && seen.size < 16) {
    const u = queue.shift()!;
    if (seen.has(u)) continue;
    try {
      const s = await fetchStatus(u);
      seen.set(u, { url: u, status: s });
      for (const next of [s.leader_url, ...s.peers.map((p) => p.url as string | undefined)]) if (next && !seen.has(next)) queue.push(next);
    } catch (err) {
      seen.set(u, { url: u, error: (err as Error).message });
    }
  }
  return [...seen.values()];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('role, leader, epoch, lease and replication lag of every node reachable from URL')
    .option('--url <URL>', 'any node of the cluster [STARGATE_URL]', DEFAULT_URL)
    .option('--json', 'print JSON')
    .action(async (o: { url: string; json?: boolean }) => {
      const nodes = await clusterStatus(o.url);
      if (o.json) {
        process.stdout.write(JSON.stringify(nodes, null, 2) + '\n');
      } else {
        const rows = [['NODE', 'URL', 'ROLE', 'EPOCH', 'LEASE LEFT', 'LAG', 'IN SYNC', 'LAST DECISION']];
        for (const n of nodes) {
          const s = n.status;
          if (!s) rows.push(['?', n.url, 'unreachable', '', '', '', '', n.error ?? '']);
          else
            rows.push([
              s.node_id,
              n.url,
              s.is_leader ? 'leader' : s.role,
              String(s.epoch),
              `${s.expires_in_ms} ms`,
              s.replication.lag_ms === null ? '-' : `${s.replication.lag_ms} ms`,
              s.replication.in_sync ? 'yes' : 'no',
              String(s.last_decision ?? ''),
            ]);
        }
        const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
        for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(w[i])).join('  ').trimEnd() + '\n');
      }
      const leaders = nodes.filter((n) => n.status?.is_leader).length;
      process.exitCode = leaders === 1 ? 0 : 1;
    });
}
