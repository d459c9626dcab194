/**
 * Bridge from a Node HTTP request to git's own CGI, git-http-backend.
 *
 * - the request body streams into the child with backpressure (pipe), counted
 *   against the body limit; gzip bodies are inflated by git itself;
 * - CGI headers are parsed, the rest streams back with backpressure;
 * - a receive-pack response is held until `settle` resolves: the response is
 *   the client's acknowledgement, so synchronous replication waits there;
 * - a client that goes away ends the child: upload-pack is killed at once,
 *   receive-pack gets EOF (it then aborts without moving a ref) and is only
 *   signalled after a grace period, so it can clean up its lock files.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChildProcess } from 'node:child_process';
import { httpBackendPath, spawnChild } from './spawn.js';
import { HOOKS_DIR } from './repos.js';
import type { Logger } from '../log.js';

export type Service = 'git-upload-pack' | 'git-receive-pack';

export interface BackendRequest {
  reposRoot: string;
  /** e.g. "/kv.git/info/refs" */
  pathInfo: string;
  service: Service;
  remoteUser: string;
  requestId: string;
  extraEnv: Record<string, string>;
  maxBodyBytes: number;
  /** Called after a successful receive-pack, before the client sees the answer. */
  settle?: () => Promise<{ error?: string }>;
}

export interface BackendResult {
  status: number;
  bytesIn: number;
  bytesOut: number;
  exitCode: number | null;
  aborted: boolean;
  /** Set when the push moved refs but must not count as acknowledged (sync-strict). */
  refused?: string;
}

const HOLD_LIMIT = 8 * 1024 * 1024;
const RECEIVE_GRACE_MS = 30_000;

/** Server-side git config forced on every request; environment config beats any repository's own. */
function forcedConfig(): Record<string, string> {
  const pairs: [string, string][] = [
    ['core.hooksPath', HOOKS_DIR],
    ['http.receivepack', 'true'],
    ['http.uploadpack', 'true'],
    ['receive.advertisePushOptions', 'true'],
    ['uploadpack.allowFilter', 'true'],
    // Passives fetch exactly the objects the leader's refs point to.
    ['uploadpack.allowReachableSHA1InWant', 'true'],
  ];
  const env: Record<string, string> = { GIT_CONFIG_COUNT: String(pairs.length) };
  pairs.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

export function runHttpBackend(req: IncomingMessage, res: ServerResponse, r: BackendRequest, log: Logger): Promise<BackendResult> {
  const h = req.headers;
  const url = new URL(req.url ?? '/', 'http://x');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C',
    GIT_PROJECT_ROOT: r.reposRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
    PATH_INFO: r.pathInfo,
    REQUEST_METHOD: req.method,
    QUERY_STRING: url.search.replace(/^\?/, ''),
    REMOTE_USER: r.remoteUser,
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    ...forcedConfig(),
    ...r.extraEnv,
  };
  if (h['content-type']) env.CONTENT_TYPE = h['content-type'];
  if (h['content-length'] !== undefined) env.CONTENT_LENGTH = h['content-length'];
  if (h['content-encoding']) env.HTTP_CONTENT_ENCODING = String(h['content-encoding']);
  if (h['git-protocol']) env.HTTP_GIT_PROTOCOL = String(h['git-protocol']);

  const child = spawnChild(httpBackendPath(), [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const result: BackendResult = { status: 0, bytesIn: 0, bytesOut: 0, exitCode: null, aborted: false };
  const isReceive = r.service === 'git-receive-pack';
  let bodyDone = req.method !== 'POST';
  let childExited = false;

  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      resolve(result);
    };

    child.stderr!.on('data', (d: Buffer) => {
      const text = d.toString('utf8').trim();
      if (text) log.warn('git_stderr', { request_id: r.requestId, service: r.service, text: text.slice(0, 2000) });
    });

    // Request body -> child stdin.
    if (req.method === 'POST') {
      req.on('data', (d: Buffer) => {
        result.bytesIn += d.length;
        if (result.bytesIn > r.maxBodyBytes && !res.headersSent) {
          req.unpipe(child.stdin!);
          child.stdin!.destroy();
          kill(child, 'SIGTERM');
          sendError(res, 413, `request body larger than ${r.maxBodyBytes} bytes\n`);
          result.status = 413;
          req.resume();
        }
      });
      req.on('end', () => (bodyDone = true));
      req.pipe(child.stdin!);
    } else child.stdin!.end();
    child.stdin!.on('error', () => {});

    // Child stdout: CGI headers, then the body.
    let head = Buffer.alloc(0);
    let headersParsed = false;
    const held: Buffer[] = [];
    let heldBytes = 0;
    let holding = isReceive && !!r.settle;
    child.stdout!.on('data', (d: Buffer) => {
      if (res.destroyed || result.status === 413) return;
      if (!headersParsed) {
        head = Buffer.concat([head, d]);
        const parsed = parseCgiHead(head);
        if (!parsed) return;
        headersParsed = true;
        result.status = parsed.status;
        res.statusCode = parsed.status;
        for (const [k, v] of parsed.headers) res.setHeader(k, v);
        if (holding) res.removeHeader('content-length');
        d = parsed.rest;
        if (!holding) res.flushHeaders();
      }
      if (d.length === 0) return;
      if (holding) {
        held.push(d);
        heldBytes += d.length;
        if (heldBytes > HOLD_LIMIT) {
          // Not a normal receive-pack answer; stop holding rather than buffer without bound.
          holding = false;
          flushHeld();
        }
        return;
      }
      result.bytesOut += d.length;
      if (!res.write(d)) {
        child.stdout!.pause();
        res.once('drain', () => child.stdout!.resume());
      }
    });
    const flushHeld = () => {
      for (const b of held.splice(0)) {
        result.bytesOut += b.length;
        res.write(b);
      }
    };

    child.on('error', (err) => {
      log.error('git_spawn_failed', { request_id: r.requestId, err: err.message });
      if (!res.headersSent) sendError(res, 502, 'git backend failed to start\n');
      finish();
    });
    child.on('close', async (code) => {
      childExited = true;
      result.exitCode = code;
      if (res.destroyed || result.status === 413) return finish();
      if (!headersParsed) {
        result.status = 502;
        sendError(res, 502, 'git backend exited before answering\n');
        return finish();
      }
      if (holding) {
        const s = code === 0 && r.settle ? await r.settle() : {};
        if (s.error) {
          // The client must not take this push as acknowledged. With side-band (what git
          // negotiates) say why on the error band, so `git push` prints it; else a bare 503.
          const body = Buffer.concat(held);
          if (body.length > 4 && body[4] >= 1 && body[4] <= 3) {
            res.end(Buffer.concat([pktLine(Buffer.concat([Buffer.from([3]), Buffer.from(`${s.error}\n`)])), Buffer.from('0000')]));
          } else {
            result.status = 503;
            res.statusCode = 503;
            res.setHeader('content-type', 'text/plain');
            res.end(`${s.error}\n`);
          }
          result.refused = s.error;
          return finish();
        }
        flushHeld();
      }
      res.end();
      finish();
    });

    // The client went away before we answered.
    res.on('close', () => {
      if (res.writableFinished) return;
      result.aborted = true;
      if (childExited) return finish();
      if (!isReceive) {
        kill(child, 'SIGKILL');
        return;
      }
      if (!bodyDone) {
        req.unpipe(child.stdin!);
        child.stdin!.destroy(); // EOF: receive-pack aborts the push itself
      }
      const t = setTimeout(() => kill(child, 'SIGTERM'), RECEIVE_GRACE_MS);
      t.unref();
      child.once('close', () => clearTimeout(t));
    });
  });
}

function pktLine(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0')), payload]);
}

function kill(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null) child.kill(sig);
}

function sendError(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(text);
}

/** CGI response head: "Name: value" lines ending with a blank line; "Status: 404 Not Found". */
export function parseCgiHead(buf: Buffer): { status: number; headers: [string, string][]; rest: Buffer } | null {
  let end = buf.indexOf('\r\n\r\n');
  let sepLen = 4;
  const lf = buf.indexOf('\n\n');
  if (lf >= 0 && (end < 0 || lf < end)) {
    end = lf;
    sepLen = 2;
  }
  if (end < 0) {
    if (buf.length > 64 * 1024) return { status: 502, headers: [], rest: Buffer.alloc(0) };
    return null;
  }
  let status = 200;
  const headers: [string, string][] = [];
  for (const line of buf.subarray(0, end).toString('latin1').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    const value = line.slice(i + 1).trim();
    if (name.toLowerCase() === 'status') status = parseInt(value, 10) || 500;
    else headers.push([name, value]);
  }
  return { status, headers, rest: buf.subarray(end + sepLen) };
}
