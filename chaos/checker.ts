/**
 * The chaos checker: given what clients saw and what the cluster holds at the
 * end, decide whether any guarantee was broken. Pure, so it is unit-tested on
 * hand-made histories (including ones that lose a write).
 */

export interface Op {
  id: number;
  writer: number;
  kind: 'set' | 'cas';
  key: string;
  value: string;
  node: string;
  start: number; // wall ms
  end: number;
  exit: number;
}

/** A push a server committed (its audit log line `push_committed`). */
export interface Commit {
  node: string;
  epoch: number;
  checkedAt: number; // wall ms at which pre-receive found the node the writer of `epoch`
  ledgerOid: string | null;
  /** Reachable from the final ledger, or kept under refs/stargate/diverged/ on some node. */
  preserved: boolean;
}

export interface Epoch {
  epoch: number;
  allocatedAt: number; // wall ms (mtime of the epoch's directory)
}

export interface Final {
  values: Map<string, string>;
  ledgerLinear: boolean;
}

export interface Verdict {
  ok: boolean;
  acknowledged: number;
  lost: Op[];
  staleCommits: Commit[];
  vanished: Commit[];
  problems: string[];
}

export function check(ops: Op[], commits: Commit[], epochs: Epoch[], final: Final): Verdict {
  const problems: string[] = [];
  const acked = ops.filter((o) => o.exit === 0);
  // 1. Every acknowledged write is readable on the final leader.
  const lost = acked.filter((o) => final.values.get(o.key) !== o.value);
  for (const o of lost) problems.push(`acknowledged write #${o.id} (${o.key}) by writer ${o.writer} via ${o.node} is missing`);
  // 2. The ledger is linear (fast-forward only, no merges).
  if (!final.ledgerLinear) problems.push('the final ledger is not linear');
  // 3. No write was accepted in a stale epoch: when pre-receive let it through, no newer epoch existed.
  const stale = commits.filter((c) => epochs.some((e) => e.epoch > c.epoch && e.allocatedAt < c.checkedAt));
  for (const c of stale) problems.push(`${c.node} accepted a push in epoch ${c.epoch} after a newer epoch existed`);
  // 4. What a deposed leader accepted without acknowledging is present or preserved, never silently dropped.
  const vanished = commits.filter((c) => c.ledgerOid && !c.preserved);
  for (const c of vanished) problems.push(`commit ${c.ledgerOid} accepted by ${c.node} in epoch ${c.epoch} is neither in the ledger nor preserved as diverged`);
  return { ok: problems.length === 0, acknowledged: acked.length, lost, staleCommits: stale, vanished, problems };
}

/** Longest stretch without any acknowledged write while the run was going, in ms. */
export function longestUnavailability(ops: Op[], from: number, to: number): number {
  const ends = ops.filter((o) => o.exit === 0).map((o) => o.end).sort((a, b) => a - b);
  let prev = from;
  let worst = 0;
  for (const t of [...ends, to]) {
    worst = Math.max(worst, t - prev);
    prev = t;
  }
  return worst;
}
