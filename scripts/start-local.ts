/**
 * `npm start`: a local pair of Stargate nodes on loopback sharing a lock
 * directory under ./.stargate, with a token printed once. Ctrl-C stops both.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'dist/src/cli/main.js');
const home = path.resolve(process.env.STARGATE_HOME ?? path.join(root, '.stargate'));
const ports = [Number(process.env.STARGATE_PORT_A ?? 8080), Number(process.env.STARGATE_PORT_B ?? 8081)];
const sg = (...args: string[]) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });

fs.mkdirSync(home, { recursive: true });
const authFile = path.join(home, 'auth.json');
const clusterToken = path.join(home, 'cluster.token');
const sharedDir = path.join(home, 'shared');
if (!fs.existsSync(clusterToken)) fs.writeFileSync(clusterToken, crypto.randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
let token: string | null = null;
if (!fs.existsSync(authFile)) {
  token = execFileSync(process.execPath, [cli, 'token', 'add', 'demo', '--auth-file', authFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .trim()
    .split('\n')
    .pop()!;
}

// `git kv` runs `git-kv` from PATH: offer a bin directory holding just that.
const binDir = path.join(home, 'bin');
fs.mkdirSync(binDir, { recursive: true });
const kvLink = path.join(binDir, 'git-kv');
if (!fs.existsSync(kvLink)) fs.symlinkSync(path.join(root, 'dist/src/kv/cli.js'), kvLink);

const nodes: Array<{ id: string; port: number; proc: ChildProcess }> = [];
for (const [i, port] of ports.entries()) {
  const id = `node-${'ab'[i]}`;
  const dataDir = path.join(home, id);
  sg('init', '--data-dir', dataDir, '--repo', 'kv');
  const args = ['serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--node-id', id, '--auth-file', authFile, '--cluster-token-file', clusterToken, '--shared-dir', sharedDir];
  const log = fs.createWriteStream(path.join(home, `${id}.log`), { flags: 'a' });
  const proc = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr!.pipe(process.stderr);
  // Keep every log line in the file; show the HA decisions here.
  readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
    log.write(line + '\n');
    try {
      const e = JSON.parse(line) as { event: string; msg?: string; ts: string };
      if (e.event === 'ha' || e.event === 'replication' || e.event === 'shutdown') console.log(`${e.ts.slice(11, 23)} ${id}: ${e.msg}`);
    } catch {
      /* not JSON */
    }
  });
  proc.on('exit', (code, sig) => console.log(`${id} exited (${sig ?? code})`));
  nodes.push({ id, port, proc });
  if (i === 0) await new Promise((r) => setTimeout(r, 800)); // let node-a take the lease first
}

const t = token ?? '<the token printed on the first run; `node dist/src/cli/main.js token add NAME --auth-file .stargate/auth.json` makes a new one>';
console.log(`
Stargate local pair is running (data, logs and the shared lock directory in ${home}):
  node-a  http://127.0.0.1:${ports[0]}   pid ${nodes[0].proc.pid}
  node-b  http://127.0.0.1:${ports[1]}   pid ${nodes[1].proc.pid}
${token ? `\nToken for user "demo" (shown only now):\n  ${token}\n` : ''}
Try it:
  git clone http://demo:${t}@127.0.0.1:${ports[0]}/kv.git && cd kv
  export PATH="${binDir}:$PATH"                            # puts git-kv on PATH for \`git kv\`
  git kv set greeting hello && git kv get greeting
  node ${path.relative(process.cwd(), cli)} status --url http://127.0.0.1:${ports[0]}
Try a failover:
  kill -9 <pid of the leader>     # the other node leads within ~2.5 s; pushes to it succeed
  node ${path.relative(process.cwd(), cli)} switchover --url http://127.0.0.1:${ports[0]} --user demo --token <token>
Ctrl-C stops both nodes.
`);

const stop = () => {
  for (const n of nodes) n.proc.kill('SIGTERM');
  setTimeout(() => process.exit(0), 3000).unref();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.all(nodes.map((n) => new Promise((r) => n.proc.once('exit', r))));
process.exit(0);
