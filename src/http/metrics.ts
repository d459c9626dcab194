/** Prometheus metrics (names fixed by DESIGN.md). One registry per node, no globals. */
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  const m = {
    registry,
    isLeader: new client.Gauge({ name: 'stargate_ha_is_leader', help: '1 when this node holds the lease and accepts writes', registers: [registry] }),
    epoch: new client.Gauge({ name: 'stargate_ha_epoch', help: 'Epoch (fencing token) this node leads or follows', registers: [registry] }),
    leaderChanges: new client.Counter({
      name: 'stargate_ha_leader_changes_total',
      help: 'Role changes of this node',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    lockFailures: new client.Counter({
      name: 'stargate_ha_lock_acquire_failures_total',
      help: 'Attempts to take the lease that failed: contended (held by another node) or error (backend unreachable)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    txnAccepted: new client.Counter({ name: 'stargate_txn_accepted_total', help: 'Pushes accepted and acknowledged', registers: [registry] }),
    txnRejected: new client.Counter({
      name: 'stargate_txn_rejected_total',
      help: 'Pushes refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    txnLatency: new client.Histogram({
      name: 'stargate_txn_latency_seconds',
      help: 'Time from receive-pack request to acknowledgement',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    replicationLag: new client.Gauge({
      name: 'stargate_replication_lag_seconds',
      help: 'Passive: time since this node last matched the leader; leader: worst in-sync passive',
      registers: [registry],
    }),
    replicationDegraded: new client.Gauge({
      name: 'stargate_replication_degraded',
      help: '1 when sync replication has degraded to async (no in-sync passive)',
      registers: [registry],
    }),
    divergedRefs: new client.Counter({
      name: 'stargate_replication_diverged_refs_total',
      help: 'Refs preserved under refs/stargate/diverged/ instead of being overwritten',
      registers: [registry],
    }),
    pushesInFlight: new client.Gauge({
      name: 'stargate_pushes_in_flight',
      help: 'Receive-pack requests being served (a draining node waits for these)',
      registers: [registry],
    }),
    httpRequests: new client.Counter({
      name: 'stargate_http_requests_total',
      help: 'HTTP requests by route kind and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
  };
  m.leaderChanges.inc({ event: 'became_leader' }, 0);
  m.leaderChanges.inc({ event: 'stepped_down' }, 0);
  m.lockFailures.inc({ reason: 'contended' }, 0);
  m.lockFailures.inc({ reason: 'error' }, 0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
