/**
 * Passive side of replication: `git fetch --mirror` semantics from the
 * leader, triggered by its change events with a periodic fallback.
 *
 * For each repository: read the leader's refs, fetch the missing objects,
 * then move every ref in one `git update-ref --stdin` transaction. A local
 * ref that changed since the last sync (for example written while this node
 * led an older epoch) and that the leader would move non-fast-forward or
 * delete is first kept under refs/stargate/diverged/<epoch>/… and reported.
 */
import { basicHeader, CLUSTER_USER } from '../auth/tokens.js';
import { errorMessage } from '../errors.js';
import { git, gitText } from '../git/spawn.js';
import { initRepo, listRepos, readRefs, repoExists, repoPath } from '../git/repos.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../http/metrics.js';
import type { Clock } from '../util/clock.js';
import { refsDigest, type Ack, type ChangeEvent, type RefsResponse, type StateResponse } from './protocol.js';

/** While the event stream is up, a full comparison runs every this many --mirror-interval-ms. */
const SAFETY_POLLS = 15;
/** The leader pings its event streams every 5 s; this much silence means the stream is dead. */
const STREAM_SILENCE_MS = 15_000;

export interface MirrorTarget {
  nodeId: string;
  url: string;
  epoch: number;
}

export interface Diverged {
  repo: string;
  ref: string;
  kept_as: string;
  oid: string;
  leader_oid: string | null;
  at: string;
}

export interface MirrorOptions {
  dataDir: string;
  nodeId: string;
  selfUrl: string;
  clusterToken: string | null;
  intervalMs: number;
  retryMs: number;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  /** The highest epoch on the lock backend: acks go only to the leader of the current epoch. */
  currentEpoch: () => Promise<number>;
}

export class Mirror {
  target: MirrorTarget | null = null;
  /** Leader refs as of our last sync, per repository; absent = unknown (be conservative). */
  private readonly base = new Map<string, Map<string, string>>();
  private readonly synced = new Map<string, string>(); // repo -> digest
  private events: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = new Set<string | '*'>();
  private stopped = true;
  lastSyncAt: number | null = null;
  /** Monotonic time since which we know the leader has something we lack; null when caught up. */
  behindSince: number | null = null;
  connected = false;
  private lastFullAt = -Infinity;
  readonly diverged: Diverged[] = [];

  constructor(private readonly o: MirrorOptions) {}

  private get auth(): string {
    return basicHeader(CLUSTER_USER, this.o.clusterToken ?? '');
  }

  /** Follow this leader (or nobody). Reconnects the event stream when it changes. */
  follow(t: MirrorTarget | null): void {
    const same = t && this.target && t.url === this.target.url && t.epoch === this.target.epoch;
    if (same || (!t && !this.target)) return;
    this.events?.abort();
    this.events = null;
    this.connected = false;
    this.target = t && t.url !== this.o.selfUrl ? t : null;
    if (this.target && !this.stopped) {
      if (this.behindSince === null) this.behindSince = this.o.clock.now();
      this.listen(this.target);
      this.request('*');
    }
  }

  start(): void {
    this.stopped = false;
    // The event stream carries every change; polling is the fallback while it is down. While it
    // is up, a full comparison every SAFETY_POLLS intervals is a safety net (and half the CPU of
    // an idle pair when done every interval).
    const tick = () => {
      if (this.stopped) return;
      if (this.target && (!this.connected || this.o.clock.now() - this.lastFullAt >= SAFETY_POLLS * this.o.intervalMs)) this.request('*');
      this.timer = setTimeout(tick, this.o.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    this.events?.abort();
    this.events = null;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Forget what we knew about the leader's refs: after leading, every local change is suspect. */
  forgetBase(): void {
    this.base.clear();
    this.synced.clear();
  }

  lagMs(): number | null {
    if (!this.target || this.lastSyncAt === null) return null;
    return this.behindSince === null ? 0 : Math.round(this.o.clock.now() - this.behindSince);
  }

  /** Server-sent events from the leader; reconnects until the target changes. */
  private listen(t: MirrorTarget): void {
    const ac = new AbortController();
    this.events = ac;
    const loop = async () => {
      while (!ac.signal.aborted && !this.stopped) {
        // One connection: aborted with the target, or when it goes silent. The leader pings every
        // 5 s, so a stream quiet for STREAM_SILENCE_MS is dead (half-open, frozen leader).
        const conn = new AbortController();
        const onAbort = () => conn.abort();
        ac.signal.addEventListener('abort', onAbort);
        let silence: NodeJS.Timeout | undefined;
        const alive = () => {
          clearTimeout(silence);
          silence = setTimeout(() => conn.abort(), STREAM_SILENCE_MS);
          silence.unref();
        };
        try {
          const u = `${t.url}/api/v1/replication/events?node_id=${encodeURIComponent(this.o.nodeId)}&url=${encodeURIComponent(this.o.selfUrl)}`;
          alive();
          const r = await fetch(u, { headers: { authorization: this.auth }, signal: conn.signal });
          if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
          this.connected = true;
          this.request('*'); // a fresh subscription starts with a full sync
          const dec = new TextDecoder();
          let buf = '';
          for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
            alive();
            buf += dec.decode(chunk, { stream: true });
            let i: number;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const data = block.split('\n').find((l) => l.startsWith('data: '));
              if (!data) continue;
              const ev = JSON.parse(data.slice(6)) as ChangeEvent;
              if (this.behindSince === null) this.behindSince = this.o.clock.now();
              this.request(ev.repo);
            }
          }
        } catch (err) {
          if (ac.signal.aborted) return;
          const why = conn.signal.aborted ? `it was silent for ${STREAM_SILENCE_MS} ms` : errorMessage(err);
          this.o.log.debug('replication', { msg: `event stream from ${t.url} failed: ${why}` });
        } finally {
          clearTimeout(silence);
          ac.signal.removeEventListener('abort', onAbort);
        }
        if (ac.signal.aborted) return;
        // Once per lost stream: whatever it would have said is found by a full comparison (then
        // the interval poll takes over while reconnecting fails).
        if (this.connected) this.request('*');
        this.connected = false;
        await new Promise((r) => setTimeout(r, this.o.retryMs));
      }
    };
    void loop();
  }

  /** Ask for a sync of one repository or all ('*'); coalesces while one runs. */
  request(what: string | '*'): void {
    this.again.add(what);
    if (this.running) return;
    this.running = true;
    void (async () => {
      while (this.again.size > 0 && this.target && !this.stopped) {
        const batch = this.again.has('*') ? ['*'] : [...this.again];
        this.again.clear();
        const t = this.target;
        try {
          if (batch[0] === '*') await this.syncAll(t);
          else for (const repo of batch) await this.syncRepo(t, repo, null);
          if (this.again.size === 0) {
            this.lastSyncAt = this.o.clock.now();
            this.behindSince = null;
          }
        } catch (err) {
          this.o.log.warn('replication', { msg: `mirroring from ${t.url} failed: ${errorMessage(err)}` });
          await new Promise((r) => setTimeout(r, this.o.retryMs));
        }
      }
      this.running = false;
    })();
  }

  private async get<T>(t: MirrorTarget, path: string): Promise<T> {
    const r = await fetch(`${t.url}${path}`, { headers: { authorization: this.auth }, signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
    return (await r.json()) as T;
  }

  private async syncAll(t: MirrorTarget): Promise<void> {
    const state = await this.get<StateResponse>(t, '/api/v1/replication/state');
    if (state.epoch !== t.epoch) {
      t.epoch = state.epoch;
    }
    let changed = false;
    for (const [repo, digest] of Object.entries(state.repos)) {
      if (this.synced.get(repo) === digest && repoExists(this.o.dataDir, repo)) continue;
      await this.syncRepo(t, repo, digest);
      changed = true;
    }
    for (const repo of listRepos(this.o.dataDir)) {
      if (!(repo in state.repos)) this.o.log.warn('replication', { msg: `repository ${repo} exists here but not on the leader; left untouched` });
    }
    await this.ack(t, { seq: state.seq, full: true });
    this.lastFullAt = this.o.clock.now();
    if (changed) this.o.log.debug('replication', { msg: `caught up with ${t.nodeId} at seq ${state.seq}` });
  }

  private async syncRepo(t: MirrorTarget, repo: string, _digest: string | null): Promise<void> {
    const gitDir = repoPath(this.o.dataDir, repo);
    const existed = repoExists(this.o.dataDir, repo);
    // The leader's refs and ours, read at the same time: this is on the path of every sync push.
    const [remote, local] = await Promise.all([
      this.get<RefsResponse>(t, `/api/v1/replication/refs?repo=${encodeURIComponent(repo)}`),
      existed ? readRefs(gitDir) : Promise.resolve(new Map<string, string>()),
    ]);
    if (!existed) {
      await initRepo(this.o.dataDir, repo);
      this.o.log.info('replication', { msg: `created repository ${repo} to mirror the leader` });
    }
    const want = new Map(Object.entries(remote.refs));
    const changes: Array<{ ref: string; from: string | null; to: string | null }> = [];
    for (const [ref, oid] of want) if (local.get(ref) !== oid) changes.push({ ref, from: local.get(ref) ?? null, to: oid });
    for (const [ref, oid] of local) if (!want.has(ref)) changes.push({ ref, from: oid, to: null });

    if (changes.length > 0) {
      await this.fetchObjects(t, repo, gitDir, [...new Set(changes.map((c) => c.to).filter((x): x is string => !!x))]);
      const base = this.base.get(repo);
      const stdin: string[] = ['start'];
      for (const c of changes) {
        const locallyChanged = !base || base.get(c.ref) !== (c.from ?? undefined);
        if (c.from && locallyChanged && !(c.to && (await isAncestor(gitDir, c.from, c.to)))) {
          const keptAs = `refs/stargate/diverged/${remote.epoch}/${c.ref.replace(/^refs\//, '')}`;
          stdin.push(`update ${keptAs} ${c.from}`);
          const d: Diverged = { repo, ref: c.ref, kept_as: keptAs, oid: c.from, leader_oid: c.to, at: new Date(this.o.clock.wall()).toISOString() };
          this.diverged.push(d);
          if (this.diverged.length > 100) this.diverged.shift();
          this.o.metrics.divergedRefs.inc();
          this.o.log.warn('replication', {
            msg: `kept ${repo}:${c.ref} at ${c.from.slice(0, 12)} as ${keptAs} because the leader (epoch ${remote.epoch}) ${c.to ? `moved it non-fast-forward to ${c.to.slice(0, 12)}` : 'does not have it'}`,
            ...d,
          });
        }
        stdin.push(c.to ? `update ${c.ref} ${c.to} ${c.from ?? '0'.repeat(c.to.length)}` : `delete ${c.ref} ${c.from}`);
      }
      stdin.push('prepare', 'commit');
      await git(gitDir, ['update-ref', '--stdin'], { input: stdin.join('\n') + '\n' });
    }
    this.base.set(repo, want);
    this.synced.set(repo, refsDigest(want));
    await this.ack(t, { repo, seq: remote.seq });
  }

  private async fetchObjects(t: MirrorTarget, repo: string, gitDir: string, oids: string[]): Promise<void> {
    if (oids.length === 0) return;
    const check = await gitText(gitDir, ['cat-file', '--batch-check'], { input: oids.join('\n') + '\n' });
    const missing = oids.filter((_, i) => check.split('\n')[i]?.endsWith(' missing'));
    if (missing.length === 0) return;
    const env = {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: ${this.auth}`,
    };
    await git(gitDir, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--stdin', `${t.url}/${repo}.git`], {
      env,
      input: missing.join('\n') + '\n',
      timeoutMs: 600_000,
    });
  }

  private async ack(t: MirrorTarget, a: Omit<Ack, 'node_id' | 'epoch'>): Promise<void> {
    // Confirm only to the leader of the current epoch: a deposed leader never collects an ack.
    const top = await this.o.currentEpoch();
    if (top !== t.epoch) return;
    const body: Ack = { node_id: this.o.nodeId, epoch: t.epoch, ...a };
    await fetch(`${t.url}/api/v1/replication/ack`, {
      method: 'POST',
      headers: { authorization: this.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    }).catch(() => {});
  }
}

async function isAncestor(gitDir: string, a: string, b: string): Promise<boolean> {
  const r = await git(gitDir, ['merge-base', '--is-ancestor', a, b], { okCodes: [1, 128] });
  return r.code === 0;
}
