/**
 * Configuration for `stargate serve`: one table of options, merged as
 * flag > STARGATE_* environment > --config file > default, validated once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { isLevel, type Level } from './log.js';

export type ReplicationMode = 'sync' | 'async' | 'sync-strict';

export interface ServeConfig {
  dataDir: string;
  listenHost: string;
  listenPort: number;
  nodeId: string;
  advertiseUrl: string;
  authFile: string;
  clusterTokenFile: string | null;
  sharedDir: string;
  lock: string | null;
  leaseMs: number;
  renewDeadlineMs: number;
  retryMs: number;
  replication: ReplicationMode;
  syncTimeoutMs: number;
  lagLimitMs: number;
  mirrorIntervalMs: number;
  allowAnonymousRead: boolean;
  maxBodyBytes: number;
  idleTimeoutMs: number;
  shutdownTimeoutMs: number;
  logLevel: Level;
}

type Kind = 'string' | 'int' | 'bool';
export interface OptionSpec {
  flag: string; // kebab-case, without --
  kind: Kind;
  arg?: string;
  help: string;
  default?: string;
}

/** Every `serve` option. README's configuration table is generated from the same names. */
export const SERVE_OPTIONS: OptionSpec[] = [
  { flag: 'data-dir', kind: 'string', arg: 'DIR', help: 'where repositories live (DIR/repos/NAME.git); required' },
  { flag: 'listen', kind: 'string', arg: 'HOST:PORT', help: 'address to listen on', default: '127.0.0.1:8080' },
  { flag: 'node-id', kind: 'string', arg: 'ID', help: 'unique name of this node', default: 'hostname' },
  { flag: 'advertise-url', kind: 'string', arg: 'URL', help: 'URL other nodes and clients use to reach this node', default: 'http://LISTEN' },
  { flag: 'auth-file', kind: 'string', arg: 'FILE', help: 'token hashes written by `stargate token add`', default: 'DATA_DIR/auth.json' },
  { flag: 'cluster-token-file', kind: 'string', arg: 'FILE', help: 'shared secret passives use to mirror the leader (required with more than one node)' },
  { flag: 'shared-dir', kind: 'string', arg: 'DIR', help: 'shared volume holding the leader lock, epochs and leader record', default: 'DATA_DIR/lock' },
  { flag: 'lock', kind: 'string', arg: 'etcd://HOST:PORT[,HOST:PORT][/PREFIX]', help: 'use etcd instead of a shared directory for the lock (key prefix default /stargate/)' },
  { flag: 'lease-ms', kind: 'int', arg: 'N', help: 'leader lease; a dead leader is replaced after at most this long (etcd: at least 2500)', default: '2500' },
  { flag: 'renew-deadline-ms', kind: 'int', arg: 'N', help: 'the leader stops writing when it has not renewed for this long (< lease; etcd: < its etcd lease)', default: 'lease*0.8; etcd: 0.9 * etcd lease' },
  { flag: 'retry-ms', kind: 'int', arg: 'N', help: 'how often passives try to take the lease (< renew deadline)', default: '250' },
  { flag: 'replication', kind: 'string', arg: 'sync|async|sync-strict', help: 'when a push is acknowledged (see runbook: durability)', default: 'sync' },
  { flag: 'sync-timeout-ms', kind: 'int', arg: 'N', help: 'how long a push waits for a passive before sync degrades', default: '3000' },
  { flag: 'lag-limit-ms', kind: 'int', arg: 'N', help: '/readyz/read fails on a passive lagging more than this', default: '10000' },
  { flag: 'mirror-interval-ms', kind: 'int', arg: 'N', help: "passive's poll of the leader while its event stream is down (every 15 intervals while it is up)", default: '2000' },
  { flag: 'allow-anonymous-read', kind: 'bool', help: 'allow clone/fetch without a token (pushes always need one)', default: 'false' },
  { flag: 'max-body-bytes', kind: 'int', arg: 'N', help: 'largest request body accepted', default: String(1024 ** 3) },
  { flag: 'idle-timeout-ms', kind: 'int', arg: 'N', help: 'close connections idle for this long', default: '60000' },
  { flag: 'shutdown-timeout-ms', kind: 'int', arg: 'N', help: 'on SIGTERM, how long in-flight pushes may finish', default: '10000' },
  { flag: 'log-level', kind: 'string', arg: 'LEVEL', help: 'debug, info, warn or error', default: 'info' },
];

export const envName = (flag: string) => 'STARGATE_' + flag.toUpperCase().replace(/-/g, '_');
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

type Raw = Record<string, string | boolean | number | undefined>;

function readConfigFile(file: string): Raw {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config ${file}: cannot read (${(err as NodeJS.ErrnoException).code})`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--config ${file}: not valid JSON (${(err as Error).message})`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new ConfigError(`--config ${file}: expected a JSON object`);
  const out: Raw = {};
  const known = new Map(SERVE_OPTIONS.flatMap((o) => [[o.flag, o.flag], [camel(o.flag), o.flag]]));
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const flag = known.get(k);
    if (!flag) throw new ConfigError(`--config ${file}: unknown key "${k}"`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new ConfigError(`--config ${file}: "${k}" must be a string, number or boolean`);
    }
    out[flag] = v;
  }
  return out;
}

/**
 * Merge the layers. `flags` holds only options given on the command line
 * (commander's values keyed by kebab flag name).
 */
export function resolveServeConfig(flags: Raw, env: NodeJS.ProcessEnv = process.env, configFile?: string): ServeConfig {
  const file = configFile ? readConfigFile(configFile) : {};
  const pick = (o: OptionSpec): { value: string | boolean | number | undefined; from: string } => {
    if (flags[o.flag] !== undefined) return { value: flags[o.flag], from: `--${o.flag}` };
    const e = env[envName(o.flag)];
    if (e !== undefined && e !== '') return { value: e, from: envName(o.flag) };
    if (file[o.flag] !== undefined) return { value: file[o.flag], from: `${configFile}: ${o.flag}` };
    return { value: undefined, from: `--${o.flag}` };
  };
  const str = (flag: string): string | undefined => {
    const v = pick(spec(flag)).value;
    return v === undefined ? undefined : String(v);
  };
  const int = (flag: string, fallback: number): number => {
    const { value, from } = pick(spec(flag));
    if (value === undefined) return fallback;
    const n = typeof value === 'number' ? value : /^\d+$/.test(String(value).trim()) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${from}: expected a positive integer, got "${value}"`);
    return n;
  };
  const bool = (flag: string): boolean => {
    const { value, from } = pick(spec(flag));
    if (value === undefined) return false;
    if (value === true || value === 'true' || value === '1' || value === 'yes') return true;
    if (value === false || value === 'false' || value === '0' || value === 'no') return false;
    throw new ConfigError(`${from}: expected true or false, got "${value}"`);
  };

  const dataDirRaw = str('data-dir');
  if (!dataDirRaw) throw new ConfigError('--data-dir is required (or STARGATE_DATA_DIR, or "data-dir" in --config)');
  const dataDir = path.resolve(dataDirRaw);

  const { host: listenHost, port: listenPort } = parseListen(str('listen') ?? '127.0.0.1:8080', pick(spec('listen')).from);
  const leaseMs = int('lease-ms', 2500);
  const renewDeadlineMs = int('renew-deadline-ms', str('lock') ? Math.floor(etcdLeaseTtlSeconds(leaseMs) * 1000 * 0.9) : Math.floor(leaseMs * 0.8));
  const retryMs = int('retry-ms', 250);
  const replication = str('replication') ?? 'sync';
  if (replication !== 'sync' && replication !== 'async' && replication !== 'sync-strict') {
    throw new ConfigError(`${pick(spec('replication')).from}: expected sync, async or sync-strict, got "${replication}"`);
  }
  const logLevel = str('log-level') ?? 'info';
  if (!isLevel(logLevel)) throw new ConfigError(`--log-level: expected debug, info, warn or error, got "${logLevel}"`);

  const advertise = str('advertise-url') ?? `http://${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${listenPort}`;
  let advertiseUrl: string;
  try {
    const u = new URL(advertise);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    advertiseUrl = u.toString().replace(/\/$/, '');
  } catch {
    throw new ConfigError(`--advertise-url: "${advertise}" is not an http(s) URL`);
  }

  const cfg: ServeConfig = {
    dataDir,
    listenHost,
    listenPort,
    nodeId: str('node-id') ?? os.hostname(),
    advertiseUrl,
    authFile: path.resolve(str('auth-file') ?? path.join(dataDir, 'auth.json')),
    clusterTokenFile: str('cluster-token-file') ? path.resolve(str('cluster-token-file')!) : null,
    sharedDir: path.resolve(str('shared-dir') ?? path.join(dataDir, 'lock')),
    lock: str('lock') ?? null,
    leaseMs,
    renewDeadlineMs,
    retryMs,
    replication,
    syncTimeoutMs: int('sync-timeout-ms', 3000),
    lagLimitMs: int('lag-limit-ms', 10000),
    mirrorIntervalMs: int('mirror-interval-ms', 2000),
    allowAnonymousRead: bool('allow-anonymous-read'),
    maxBodyBytes: int('max-body-bytes', 1024 ** 3),
    idleTimeoutMs: int('idle-timeout-ms', 60000),
    shutdownTimeoutMs: int('shutdown-timeout-ms', 10000),
    logLevel,
  };
  validateTiming(cfg);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(cfg.nodeId)) {
    throw new ConfigError(`--node-id: "${cfg.nodeId}" must be 1-63 letters, digits, dot, dash or underscore`);
  }
  if (cfg.lock !== null && !/^etcd:\/\/[^/,]+(,[^/,]+)*(\/[A-Za-z0-9._\/-]*)?$/.test(cfg.lock)) {
    throw new ConfigError(`--lock: expected etcd://HOST:PORT[,HOST:PORT][/PREFIX], got "${cfg.lock}"`);
  }
  return cfg;
}

/** etcd revokes expired leases on a 500 ms tick, so a dead holder's key can outlive its TTL by that much. */
export const ETCD_EXPIRY_CHECK_MS = 500;

/**
 * The etcd lease TTL (whole seconds) behind --lease-ms: what is left of the lease after etcd's
 * expiry tick, rounded down, so that a dead leader is still replaced within --lease-ms.
 */
export function etcdLeaseTtlSeconds(leaseMs: number): number {
  return Math.floor((leaseMs - ETCD_EXPIRY_CHECK_MS) / 1000);
}

/**
 * client-go's rule: lease > renew deadline > retry period; proper-lockfile cannot go below 2 s.
 * With etcd the lease that fences a deposed leader is the etcd lease (etcdLeaseTtlSeconds), which
 * must be at least 2 s (etcd silently lengthens shorter ones), and the leader must stop writing
 * before it can run out: renew deadline < etcd lease.
 */
export function validateTiming(c: Pick<ServeConfig, 'leaseMs' | 'renewDeadlineMs' | 'retryMs' | 'lock'>): void {
  if (c.lock !== null) {
    const ttlMs = etcdLeaseTtlSeconds(c.leaseMs) * 1000;
    if (ttlMs < 2000) {
      throw new ConfigError(`--lease-ms ${c.leaseMs}: with etcd the lease must be at least 2500 ms (an etcd lease of at least 2 s, plus ${ETCD_EXPIRY_CHECK_MS} ms for etcd to notice it expired)`);
    }
    if (!(c.renewDeadlineMs < ttlMs)) {
      throw new ConfigError(`--renew-deadline-ms ${c.renewDeadlineMs} must be shorter than the etcd lease of ${ttlMs} ms that --lease-ms ${c.leaseMs} gives (lease minus ${ETCD_EXPIRY_CHECK_MS} ms, rounded down to whole seconds), or a deposed leader could still write`);
    }
  }
  if (c.lock === null && c.leaseMs < 2000) {
    throw new ConfigError(`--lease-ms ${c.leaseMs}: the shared-directory lock needs a lease of at least 2000 ms`);
  }
  if (!(c.leaseMs > c.renewDeadlineMs)) {
    throw new ConfigError(`--renew-deadline-ms ${c.renewDeadlineMs} must be shorter than --lease-ms ${c.leaseMs}, or a deposed leader could still write`);
  }
  if (!(c.renewDeadlineMs > c.retryMs)) {
    throw new ConfigError(`--retry-ms ${c.retryMs} must be shorter than --renew-deadline-ms ${c.renewDeadlineMs}`);
  }
  if (c.lock === null && c.renewDeadlineMs <= 1000) {
    throw new ConfigError(`--renew-deadline-ms ${c.renewDeadlineMs}: the shared-directory lock renews every 1000 ms, so the deadline must be longer`);
  }
}

export function parseListen(v: string, from = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(v.trim());
  if (!m) throw new ConfigError(`${from}: expected HOST:PORT, got "${v}"`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${from}: bad port "${m[3]}" (0-65535)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function spec(flag: string): OptionSpec {
  const s = SERVE_OPTIONS.find((o) => o.flag === flag);
  if (!s) throw new Error(`no option ${flag}`);
  return s;
}

/** Checks that touch the disk, done once at start with a message per mistake. */
export function checkServeEnvironment(cfg: ServeConfig): void {
  ensureWritableDir(cfg.dataDir, '--data-dir');
  if (cfg.lock === null) ensureWritableDir(cfg.sharedDir, '--shared-dir');
  if (!fs.existsSync(cfg.authFile)) {
    throw new ConfigError(`--auth-file ${cfg.authFile} does not exist; create a token first: stargate token add NAME --auth-file ${cfg.authFile}`);
  }
  if (cfg.clusterTokenFile && !fs.existsSync(cfg.clusterTokenFile)) {
    throw new ConfigError(`--cluster-token-file ${cfg.clusterTokenFile} does not exist`);
  }
}

export function ensureWritableDir(dir: string, what: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.write-test-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.unlinkSync(probe);
  } catch (err) {
    throw new ConfigError(`${what} ${dir} is not a writable directory (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
