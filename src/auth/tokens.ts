/**
 * Token store. Tokens are 256-bit random strings, so a plain SHA-256 is enough
 * to make a leaked auth file useless (slow salted hashes exist for low-entropy
 * passwords); it also keeps authentication off the push latency path.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StargateError } from '../errors.js';

export interface TokenEntry {
  name: string;
  sha256: string;
  created: string;
}
interface AuthFile {
  version: 1;
  tokens: TokenEntry[];
}

export const CLUSTER_USER = 'stargate-cluster';
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export const hashToken = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
export const newToken = () => 'sg_' + crypto.randomBytes(32).toString('base64url');

export function readAuthFile(file: string): AuthFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StargateError('AUTH_FILE_INVALID', `auth file ${file}: ${(err as Error).message}`);
  }
  const f = parsed as AuthFile;
  if (!f || f.version !== 1 || !Array.isArray(f.tokens)) {
    throw new StargateError('AUTH_FILE_INVALID', `auth file ${file}: expected {"version":1,"tokens":[...]}`);
  }
  return f;
}

/** Adds a token for NAME and returns it; the file keeps only its hash. */
export function addToken(file: string, name: string): string {
  if (!NAME_RE.test(name) || name === CLUSTER_USER) {
    throw new StargateError('AUTH_FILE_INVALID', `token name "${name}" must be 1-64 letters, digits, . _ @ - (and not ${CLUSTER_USER})`);
  }
  const f: AuthFile = fs.existsSync(file) ? readAuthFile(file) : { version: 1, tokens: [] };
  const token = newToken();
  f.tokens.push({ name, sha256: hashToken(token), created: new Date().toISOString() });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(f, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return token;
}

export type Principal = { name: string; cluster: boolean };

/**
 * Verifies Basic credentials against the auth file, reloading it when it
 * changes (checked at most once a second) so `token add` needs no restart.
 */
export class Authenticator {
  private entries: TokenEntry[] = [];
  private mtimeMs = -1;
  private checkedAt = 0;
  private readonly clusterHash: string | null;

  constructor(private readonly file: string, clusterToken: string | null) {
    this.clusterHash = clusterToken ? hashToken(clusterToken) : null;
    this.reload(true);
  }

  private reload(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    try {
      const st = fs.statSync(this.file);
      if (!force && st.mtimeMs === this.mtimeMs) return;
      this.entries = readAuthFile(this.file).tokens;
      this.mtimeMs = st.mtimeMs;
    } catch (err) {
      if (force) throw err;
      // Keep the last good set rather than locking everyone out on a half-written file.
    }
  }

  verify(authorization: string | undefined): Principal | null {
    const creds = parseBasic(authorization);
    if (!creds) return null;
    const h = hashToken(creds.password);
    if (creds.user === CLUSTER_USER) {
      return this.clusterHash && safeEqual(h, this.clusterHash) ? { name: CLUSTER_USER, cluster: true } : null;
    }
    this.reload();
    for (const e of this.entries) {
      if (e.name === creds.user && safeEqual(h, e.sha256)) return { name: e.name, cluster: false };
    }
    return null;
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

export function parseBasic(h: string | undefined): { user: string; password: string } | null {
  if (!h || !/^basic /i.test(h)) return null;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return null;
  return { user: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

export const basicHeader = (user: string, password: string) =>
  'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

export function readClusterToken(file: string | null): string | null {
  if (!file) return null;
  const t = fs.readFileSync(file, 'utf8').trim();
  if (t.length < 16) throw new StargateError('AUTH_FILE_INVALID', `cluster token in ${file} is shorter than 16 characters`);
  return t;
}
