/**
 * One Stargate node: wires config, lock, HA loop, hooks, replication and the
 * HTTP server together, and owns start-up and graceful shutdown.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import { getRequestListener, type HttpBindings } from '@hono/node-server';
import { Authenticator, readClusterToken, type Principal } from './auth/tokens.js';
import { errorMessage } from './errors.js';
import type { ServeConfig } from './config.js';
import type { LeaderLock } from './election/lock.js';
import { FileLock } from './election/file-lock.js';
import { Elector } from './ha/elector.js';
import { createApp, type HaStatus } from './http/app.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { HookServer, type HookAnswer, type HookCall, type RefUpdate } from './git/hook-server.js';
import { runHttpBackend, type Service } from './git/http-backend.js';
import { HOOKS_DIR, ensureHooksWired, listRepos, reposRoot } from './git/repos.js';
import { ledgerPolicy } from './kv/policy.js';
import { Replication } from './replication/replication.js';
import type { Logger } from './log.js';
import { systemClock, type Clock } from './util/clock.js';

interface Txn {
  repo: string;
  startedAt: number;
  epoch?: number;
  /** Wall time at which pre-receive found this node the writer of `epoch`. */
  checkedAt?: string;
  updates?: RefUpdate[];
  /** Replication of this push, started as soon as post-receive reports the refs moved. */
  replicated?: Promise<{ error?: string }>;
  rejected?: string;
}

export class StargateNode {
  readonly metrics: Metrics = createMetrics();
  readonly auth: Authenticator;
  readonly lock: LeaderLock;
  readonly elector: Elector;
  readonly hooks: HookServer;
  readonly replication: Replication;
  private server: http.Server | null = null;
  private readonly txns = new Map<string, Txn>();
  private inflightPushes = 0;
  private lastPushActivity = -Infinity;
  /** Connections whose client announced a push (GET info/refs) and has not finished it yet. */
  private readonly pushConnections = new Set<Socket>();
  private shuttingDown = false;
  private watcher: FSWatcher | null = null;
  private readonly clustered: boolean;

  constructor(readonly cfg: ServeConfig, readonly log: Logger, lock?: LeaderLock, readonly clock: Clock = systemClock) {
    const clusterToken = readClusterToken(cfg.clusterTokenFile);
    this.auth = new Authenticator(cfg.authFile, clusterToken);
    this.clustered = cfg.lock !== null || cfg.sharedDir !== path.join(cfg.dataDir, 'lock');
    this.lock = lock ?? new FileLock(cfg.sharedDir, cfg.leaseMs, clock);
    this.replication = new Replication({
      cfg,
      log,
      metrics: this.metrics,
      clusterToken,
      clock,
      lock: this.lock,
      publishRecord: () => this.elector.publishNow(),
      leading: (epoch) => this.elector.holds(epoch),
    });
    this.elector = new Elector({
      candidate: { nodeId: cfg.nodeId, url: cfg.advertiseUrl },
      lock: this.lock,
      clock,
      log,
      leaseMs: cfg.leaseMs,
      renewDeadlineMs: cfg.renewDeadlineMs,
      retryMs: cfg.retryMs,
      extras: () => this.replication.recordExtras(),
      mayPromote: (leader) => this.replication.mayPromote(leader),
      onRoleChange: (role) => {
        this.metrics.leaderChanges.inc({ event: role === 'leader' ? 'became_leader' : 'stepped_down' });
        this.replication.setRole(role, this.elector.epoch);
      },
      onFollow: (leader) => this.replication.followLeader(leader),
      onAcquireFailure: (reason) => this.metrics.lockFailures.inc({ reason }),
    });
    this.hooks = new HookServer((call) => this.onHook(call), log.child({ component: 'hooks' }));
  }

  async start(): Promise<void> {
    fs.mkdirSync(reposRoot(this.cfg.dataDir), { recursive: true });
    for (const repo of listRepos(this.cfg.dataDir)) {
      if (await ensureHooksWired(this.cfg.dataDir, repo)) this.log.warn('hooks_rewired', { repo, msg: `repository ${repo} was not wired to ${HOOKS_DIR}; fixed` });
    }
    await this.hooks.listen();
    this.replication.start();
    this.elector.start();
    if (this.lock instanceof FileLock) {
      // Polling every --retry-ms is the guarantee; a watch makes a released lease visible at once.
      this.watcher = chokidar.watch(path.join(this.cfg.sharedDir, 'leader.json'), { ignoreInitial: true });
      this.watcher.on('all', () => {
        if (this.elector.role === 'passive') this.elector.wake();
      });
    }

    const app = createApp(this, (a) => this.replication.routes(a, (h) => this.auth.verify(h)));
    const listener = getRequestListener(app.fetch);
    this.server = http.createServer(listener);
    this.server.requestTimeout = 0; // large pushes are bounded by the idle timeout instead
    this.server.headersTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
    this.server.setTimeout(this.cfg.idleTimeoutMs, (sock) => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.cfg.listenPort, this.cfg.listenHost, () => resolve());
    });
    const addr = this.server.address();
    if (addr && typeof addr === 'object' && this.cfg.listenPort === 0) this.cfg.listenPort = addr.port;
    this.log.info('listening', {
      msg: `node ${this.cfg.nodeId} serving ${reposRoot(this.cfg.dataDir)} on ${this.cfg.listenHost}:${this.cfg.listenPort}`,
      advertise_url: this.cfg.advertiseUrl,
      shared_dir: this.cfg.lock ?? this.cfg.sharedDir,
      replication: this.cfg.replication,
    });
  }

  /** SIGTERM: stop taking requests, let in-flight pushes finish (bounded), hand the lease over, exit. */
  async shutdown(reason = 'the node is shutting down'): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info('shutdown', { msg: `shutting down: ${reason}; waiting for ${this.inflightPushes} in-flight push(es)` });
    // New pushes are refused at their first request (app.ts). Pushes under way may still send
    // requests: wait until every connection that announced one has finished it or closed (a git
    // client holds one per push), or else (a proxy keeping connections) for 300 ms without push
    // traffic. Keep listening until the lease is handed over: passives must still fetch what
    // those pushes wrote, or sync replication would drop them and no passive could take over.
    const deadline = this.clock.now() + this.cfg.shutdownTimeoutMs;
    const quiet = () =>
      this.inflightPushes === 0 && (this.pushConnections.size === 0 || this.clock.now() - this.lastPushActivity > 300);
    while (!quiet() && this.clock.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.elector.drain();
    await this.elector.handOver(reason, null);
    this.server?.close();
    await this.replication.stop();
    await this.watcher?.close();
    this.server?.closeAllConnections();
    await this.hooks.close();
    await this.lock.close();
  }

  // ---- NodeApi (used by the HTTP app) ----
  get dataDir() {
    return this.cfg.dataDir;
  }
  get allowAnonymousRead() {
    return this.cfg.allowAnonymousRead;
  }
  isShuttingDown() {
    return this.shuttingDown;
  }

  health(): { ok: boolean; checks: Record<string, unknown> } {
    const loopAgeMs = Math.round(this.clock.now() - this.elector.lastCycleAt);
    const loopOk = loopAgeMs < Math.max(5000, 2 * this.cfg.leaseMs);
    let reposOk = true;
    try {
      fs.accessSync(reposRoot(this.cfg.dataDir), fs.constants.R_OK | fs.constants.W_OK);
    } catch {
      reposOk = false;
    }
    let hooksOk = true;
    try {
      fs.accessSync(path.join(HOOKS_DIR, 'pre-receive'), fs.constants.X_OK);
    } catch {
      hooksOk = false;
    }
    const ok = loopOk && reposOk && hooksOk && !this.shuttingDown;
    return { ok, checks: { ha_loop_age_ms: loopAgeMs, ha_loop: loopOk, repos: reposOk, hooks: hooksOk, shutting_down: this.shuttingDown } };
  }

  ready(): boolean {
    return !this.shuttingDown && this.elector.isWritable();
  }

  readyRead(): boolean {
    if (this.shuttingDown) return false;
    if (this.elector.isWritable()) return true;
    const lag = this.replication.status().lag_ms;
    return lag !== null && lag <= this.cfg.lagLimitMs;
  }

  status(): HaStatus {
    const e = this.elector;
    const isLeader = e.role === 'leader';
    this.metrics.isLeader.set(isLeader && e.isWritable() ? 1 : 0);
    this.metrics.epoch.set(e.epoch);
    return {
      enabled: this.clustered,
      node_id: this.cfg.nodeId,
      url: this.cfg.advertiseUrl,
      role: e.role,
      is_leader: isLeader && e.isWritable(),
      leader_id: isLeader ? this.cfg.nodeId : e.leader && !e.leader.released ? e.leader.node_id : null,
      leader_url: e.leaderUrl(),
      epoch: e.epoch,
      lease_ms: this.cfg.leaseMs,
      expires_in_ms: e.expiresInMs(),
      replication: this.replication.status(),
      peers: this.replication.peers(),
      last_decision: e.lastSentence,
      lock: this.lock.kind,
      shutting_down: this.shuttingDown,
    };
  }

  async switchover(): Promise<{ ok: boolean; message: string }> {
    if (this.elector.role !== 'leader') return { ok: false, message: `not leader; leader is ${this.elector.leaderUrl() ?? 'unknown'}` };
    const target = this.replication.inSyncPeer();
    if (!target) return { ok: false, message: 'no in-sync passive to hand over to' };
    this.elector.drain();
    const deadline = this.clock.now() + this.cfg.shutdownTimeoutMs;
    while (this.inflightPushes > 0 && this.clock.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const s = await this.elector.handOver(`an operator asked for a switchover to an in-sync passive (${target})`, 2 * this.cfg.leaseMs);
    return { ok: true, message: s };
  }

  forcePromotion(): { ok: boolean; message: string } {
    if (this.elector.role === 'leader') return { ok: false, message: 'this node already leads' };
    this.elector.forcePromotion = true;
    this.elector.wake();
    this.log.warn('ha', { msg: 'an operator forced the next promotion: the promotion guard is skipped once; acknowledged pushes may be lost' });
    return { ok: true, message: `${this.cfg.nodeId} will take the lease as soon as it is free, skipping the promotion guard once` };
  }

  async git(env: HttpBindings, method: string, service: Service, repo: string, pathInfo: string, who: Principal | null): Promise<number> {
    const requestId = crypto.randomBytes(8).toString('hex');
    const isPush = service === 'git-receive-pack' && method === 'POST';
    if (service === 'git-receive-pack') this.lastPushActivity = this.clock.now();
    const sock = env.incoming.socket;
    if (service === 'git-receive-pack' && method === 'GET' && !this.pushConnections.has(sock)) {
      this.pushConnections.add(sock);
      sock.once('close', () => this.pushConnections.delete(sock));
    }
    const txn: Txn = { repo, startedAt: this.clock.now() };
    if (isPush) {
      this.metrics.pushesInFlight.set(++this.inflightPushes);
      this.txns.set(requestId, txn);
    }
    try {
      const r = await runHttpBackend(
        env.incoming,
        env.outgoing,
        {
          reposRoot: reposRoot(this.cfg.dataDir),
          pathInfo,
          service,
          remoteUser: who?.name ?? 'anonymous',
          requestId,
          extraEnv: this.hooks.childEnv(requestId),
          maxBodyBytes: this.cfg.maxBodyBytes,
          settle: isPush ? () => this.settle(requestId) : undefined,
        },
        this.log,
      );
      if (isPush) this.countTxn(txn, r.refused ? 503 : r.status, r.aborted);
      return r.status;
    } finally {
      if (isPush) {
        this.lastPushActivity = this.clock.now();
        this.pushConnections.delete(sock);
        this.metrics.pushesInFlight.set(--this.inflightPushes);
        this.txns.delete(requestId);
      }
    }
  }

  private countTxn(txn: Txn, status: number, aborted: boolean): void {
    if (txn.updates && status === 200 && !aborted) {
      this.metrics.txnAccepted.inc();
      this.metrics.txnLatency.observe((this.clock.now() - txn.startedAt) / 1000);
    } else if (txn.rejected) this.metrics.txnRejected.inc({ reason: txn.rejected });
    else if (txn.updates && status !== 200) this.metrics.txnRejected.inc({ reason: 'sync_refused' });
    else if (aborted) this.metrics.txnRejected.inc({ reason: 'client_gone' });
  }

  /** After receive-pack finished: in sync mode, wait for replication before the client hears "ok". */
  private async settle(requestId: string): Promise<{ error?: string }> {
    const txn = this.txns.get(requestId);
    if (!txn?.updates) return {};
    return txn.replicated ?? this.replication.committed(txn.repo);
  }

  private repoOf(gitDir: string): string | null {
    const root = fs.realpathSync(reposRoot(this.cfg.dataDir)) + path.sep;
    const abs = path.resolve(gitDir);
    if (!abs.startsWith(root) || !abs.endsWith('.git')) return null;
    return abs.slice(root.length, -4).split(path.sep).join('/');
  }

  private async onHook(call: HookCall): Promise<HookAnswer> {
    const txn = this.txns.get(call.requestId);
    if (call.hook === 'post-receive') {
      if (txn) {
        txn.updates = call.updates;
        this.log.info('push_committed', { repo: txn.repo, epoch: txn.epoch, checked_at: txn.checkedAt, updates: call.updates.map((u) => `${u.ref} ${u.new}`) });
        // In sync modes the client waits for the passives anyway: tell them now, while
        // receive-pack finishes, rather than after (settle() then waits for this).
        if (this.cfg.replication !== 'async') {
          txn.replicated = this.replication.committed(txn.repo).catch((err: unknown) => ({ error: `sync refused: ${errorMessage(err)}` }));
        }
      }
      return { exit: 0 };
    }
    const reject = (reason: string, a: HookAnswer): HookAnswer => {
      if (txn) txn.rejected = reason;
      this.log.info('push_refused', { repo: txn?.repo, reason, msg: a.say?.join(' ') });
      return a;
    };
    const repo = this.repoOf(call.gitDir);
    if (!txn || !repo || repo !== txn.repo) return reject('unknown_request', { exit: 9, say: ['not leader; this push did not come through this Stargate node'] });
    // 1. Leadership, checked at push time: leader, lease valid, epoch current.
    const w = await this.elector.checkWrite();
    if (!w.ok) return reject('not_leader', { exit: 9, say: [w.message] });
    txn.epoch = w.epoch;
    txn.checkedAt = new Date(this.clock.wall()).toISOString();
    // 2. sync-strict: refuse up front when no passive can confirm.
    const gate = this.replication.admit();
    if (gate) return reject('sync_refused', { exit: 11, say: [gate] });
    // 3. Ledger rules for refs/kv*.
    const verdict = await ledgerPolicy(call);
    if (verdict) return reject(verdict.reason, verdict);
    return { exit: 0 };
  }
}
