/**
 * The baseline: git's own git-http-backend behind the smallest Node HTTP
 * server that serves smart HTTP correctly. Same spawn approach as Stargate
 * (the CGI binary from `git --exec-path`, bodies streamed both ways) and the
 * same HTTP Basic challenge, so git makes the same 401 round trip as against
 * Stargate; nothing else: no hooks, no HA, no logging.
 *
 *   node dist/bench/baseline-server.js ROOT PORT USER:PASSWORD
 */
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

const [root, port, credentials] = process.argv.slice(2);
const expected = `Basic ${Buffer.from(credentials).toString('base64')}`;
const backend = path.join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');

const server = http.createServer((req, res) => {
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' }).end('authentication required\n');
    return;
  }
  const url = new URL(req.url ?? '/', 'http://x');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: decodeURIComponent(url.pathname),
    REQUEST_METHOD: req.method,
    QUERY_STRING: url.search.slice(1),
    REMOTE_USER: 'bench',
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.receivepack',
    GIT_CONFIG_VALUE_0: 'true',
  };
  const h = req.headers;
  if (h['content-type']) env.CONTENT_TYPE = h['content-type'];
  if (h['content-length'] !== undefined) env.CONTENT_LENGTH = h['content-length'];
  if (h['content-encoding']) env.HTTP_CONTENT_ENCODING = String(h['content-encoding']);
  if (h['git-protocol']) env.HTTP_GIT_PROTOCOL = String(h['git-protocol']);

  const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {});
  let head: Buffer | null = Buffer.alloc(0);
  child.stdout.on('data', (d: Buffer) => {
    if (head) {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const [k, v] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (k.toLowerCase() === 'status') res.statusCode = parseInt(v, 10);
        else res.setHeader(k, v);
      }
      d = head.subarray(end + 4);
      head = null;
      res.flushHeaders();
    }
    if (d.length > 0 && !res.write(d)) {
      child.stdout.pause();
      res.once('drain', () => child.stdout.resume());
    }
  });
  child.on('close', () => (head && !res.headersSent ? res.writeHead(502).end() : res.end()));
  res.on('close', () => {
    if (!res.writableFinished && child.exitCode === null) child.kill();
  });
});
server.requestTimeout = 0;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
