/** Placeholder until mirroring lands: a single node replicates nothing. */
import type { Hono } from 'hono';
import type { ServeConfig } from '../config.js';
import type { LeaderRecord, RecordExtras } from '../election/lock.js';
import type { RefUpdate } from '../git/hook-server.js';
import type { Metrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { Principal } from '../auth/tokens.js';
import type { Role } from '../ha/elector.js';

export interface ReplicationDeps {
  cfg: ServeConfig;
  log: Logger;
  metrics: Metrics;
  clusterToken: string | null;
  clock: Clock;
}

export class Replication {
  private role: Role = 'passive';
  constructor(private readonly d: ReplicationDeps) {}
  setRole(role: Role, _leader: () => LeaderRecord | null, _epoch: () => number): void {
    this.role = role;
  }
  start(): void {}
  async stop(): Promise<void> {}
  recordExtras(): RecordExtras {
    return { replication: { mode: this.d.cfg.replication, in_sync: [], degraded: true } };
  }
  async mayPromote(_leader: LeaderRecord | null): Promise<string | null> {
    return null;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  routes(_app: Hono<any>, _verify: (h: string | undefined) => Principal | null): void {}
  status() {
    return { mode: this.d.cfg.replication, lag_ms: this.role === 'leader' ? 0 : null, in_sync: this.role === 'leader', degraded: true };
  }
  peers(): Array<Record<string, unknown>> {
    return [];
  }
  inSyncPeer(): string | null {
    return null;
  }
  async committed(_repo: string, _updates: RefUpdate[], _epoch: number): Promise<{ error?: string }> {
    return {};
  }
  admit(): string | null {
    return null;
  }
}
