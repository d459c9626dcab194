/**
 * The HTTP surface of one node, as a Hono app (no listen() here, so routes can
 * be tested with app.request()). Operational routes only read state or post a
 * request that wakes the HA loop; they never switch roles themselves.
 */
import { Hono, type Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { Authenticator, Principal } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { validateRepoName, repoExists } from '../git/repos.js';
import type { Service } from '../git/http-backend.js';
import { StargateError } from '../errors.js';

export interface HaStatus {
  enabled: boolean;
  node_id: string;
  role: 'leader' | 'passive';
  is_leader: boolean;
  leader_id: string | null;
  leader_url: string | null;
  epoch: number;
  lease_ms: number;
  expires_in_ms: number;
  replication: { mode: string; lag_ms: number | null; in_sync: boolean; degraded?: boolean };
  peers: Array<Record<string, unknown>>;
  [k: string]: unknown;
}

export interface NodeApi {
  dataDir: string;
  allowAnonymousRead: boolean;
  auth: Authenticator;
  log: Logger;
  metrics: Metrics;
  health(): { ok: boolean; checks: Record<string, unknown> };
  ready(): boolean;
  readyRead(): boolean;
  status(): HaStatus;
  isShuttingDown(): boolean;
  git(env: HttpBindings, method: string, service: Service, repo: string, pathInfo: string, who: Principal | null): Promise<number>;
  switchover(): Promise<{ ok: boolean; message: string }>;
  forcePromotion(): { ok: boolean; message: string };
}

type Env = { Bindings: HttpBindings; Variables: { principal: Principal | null; routeKind: string } };

const GIT_PATH = /^\/(.+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;

export function createApp(node: NodeApi, extend?: (app: Hono<Env>) => void): Hono<Env> {
  const app = new Hono<Env>();

  // One structured line per request.
  app.use('*', async (c, next) => {
    const t0 = performance.now();
    c.set('routeKind', 'other');
    await next();
    const status = c.res.status === 200 && c.env?.outgoing?.headersSent ? c.env.outgoing.statusCode : c.res.status;
    node.metrics.httpRequests.inc({ route: c.get('routeKind'), status: String(status) });
    const kind = c.get('routeKind');
    if (kind === 'probe' || kind === 'metrics' || kind === 'internal') return; // probes every second would drown the log
    node.log.info('request', {
      method: c.req.method,
      path: new URL(c.req.url).pathname,
      status,
      ms: Math.round(performance.now() - t0),
      user: c.get('principal')?.name ?? null,
    });
  });

  app.get('/healthz', (c) => {
    c.set('routeKind', 'probe');
    const h = node.health();
    return c.json(h, h.ok ? 200 : 503);
  });
  app.get('/readyz', (c) => {
    c.set('routeKind', 'probe');
    const s = node.status();
    const ok = node.ready();
    return c.json({ ready: ok, role: s.role, epoch: s.epoch, leader_url: s.leader_url }, ok ? 200 : 503);
  });
  app.get('/readyz/read', (c) => {
    c.set('routeKind', 'probe');
    const s = node.status();
    const ok = node.readyRead();
    return c.json({ ready: ok, role: s.role, lag_ms: s.replication.lag_ms }, ok ? 200 : 503);
  });
  app.get('/api/v1/ha/status', (c) => {
    c.set('routeKind', 'probe');
    return c.json(node.status());
  });
  app.get('/metrics', async (c) => {
    c.set('routeKind', 'metrics');
    return c.text(await node.metrics.registry.metrics(), 200, { 'content-type': node.metrics.registry.contentType });
  });
  app.post('/api/v1/ha/switchover', async (c) => {
    const who = node.auth.verify(c.req.header('authorization'));
    if (!who) return unauthorized(c);
    const r = await node.switchover();
    return c.json(r, r.ok ? 200 : 409);
  });

  app.post('/api/v1/ha/promote', (c) => {
    const who = node.auth.verify(c.req.header('authorization'));
    if (!who) return unauthorized(c);
    const r = node.forcePromotion();
    return c.json(r, r.ok ? 200 : 409);
  });

  extend?.(app);

  // Smart HTTP. Parse the raw path ourselves: encoded characters are refused, not decoded.
  app.on(['GET', 'POST'], '*', async (c) => {
    const raw = rawPath(c.env?.incoming?.url ?? c.req.raw.url);
    const m = GIT_PATH.exec(raw);
    if (!m) return c.text('not found\n', 404);
    c.set('routeKind', 'git');
    const [, repo, action] = m;
    if (raw.includes('%') || raw.includes('\\') || raw.includes('//')) return c.text('invalid repository path\n', 400);
    try {
      validateRepoName(repo);
    } catch (err) {
      return c.text(`${(err as StargateError).message}\n`, 400);
    }
    let service: Service;
    if (action === 'info/refs') {
      if (c.req.method !== 'GET') return c.text('method not allowed\n', 405);
      const s = new URL(c.req.url).searchParams.get('service');
      if (s !== 'git-upload-pack' && s !== 'git-receive-pack') return c.text('only the smart HTTP protocol is served\n', 403);
      service = s;
    } else {
      if (c.req.method !== 'POST') return c.text('method not allowed\n', 405);
      service = action as Service;
    }
    const who = node.auth.verify(c.req.header('authorization'));
    c.set('principal', who);
    const anonymousOk = service === 'git-upload-pack' && node.allowAnonymousRead;
    if (!who && !anonymousOk) return unauthorized(c);
    if (who?.cluster && service === 'git-receive-pack') return c.text('the cluster token may only read\n', 403);
    if (!repoExists(node.dataDir, repo)) return c.text(`repository ${repo} not found\n`, 404);
    // Shutting down: pushes under way finish, a new one is refused at its first request.
    if (node.isShuttingDown() && service === 'git-receive-pack' && action === 'info/refs') return c.text('not leader; this node is shutting down\n', 503);
    await node.git(c.env, c.req.method, service, repo, `/${repo}.git/${action}`, who);
    return RESPONSE_ALREADY_SENT;
  });

  return app;
}

export function unauthorized(c: Context) {
  return c.text('authentication required\n', 401, { 'WWW-Authenticate': 'Basic realm="Stargate", charset="UTF-8"' });
}

/** The path exactly as sent (no percent-decoding, no dot-segment removal by URL parsing). */
export function rawPath(url: string): string {
  const noScheme = url.replace(/^[a-z]+:\/\/[^/]*/i, '');
  const q = noScheme.indexOf('?');
  return q < 0 ? noScheme : noScheme.slice(0, q);
}
