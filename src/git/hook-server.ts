/**
 * The node's side of hooks/stargate-hook: a loopback TCP listener that reads
 * one hook call (header lines, the ref updates, "end") and answers with
 * "say TEXT" lines and a final "exit N". Only children of this process know
 * the secret, so nothing else on the machine can ask.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import type { Logger } from '../log.js';

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

export interface HookCall {
  hook: 'pre-receive' | 'post-receive';
  requestId: string;
  gitDir: string;
  /** Quarantine variables: objects of an in-flight push are only visible with these set. */
  env: Record<string, string>;
  options: string[];
  updates: RefUpdate[];
}

export interface HookAnswer {
  exit: number;
  say?: string[];
}

export type HookHandler = (call: HookCall) => Promise<HookAnswer>;

const MAX_CALL_BYTES = 64 * 1024 * 1024;
const ENV_ALLOWED = new Set(['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']);

export class HookServer {
  readonly secret = crypto.randomBytes(24).toString('hex');
  private server: net.Server | null = null;
  port = 0;

  constructor(private readonly handler: HookHandler, private readonly log: Logger) {}

  async listen(): Promise<number> {
    this.server = net.createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** Environment the node's git children need so their hooks can reach us. */
  childEnv(requestId: string): Record<string, string> {
    return { STARGATE_CONTROL_PORT: String(this.port), STARGATE_CONTROL_SECRET: this.secret, STARGATE_REQUEST_ID: requestId };
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private serve(sock: net.Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    sock.setTimeout(120_000, () => sock.destroy());
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      if (done) return;
      chunks.push(d);
      size += d.length;
      if (size > MAX_CALL_BYTES) {
        done = true;
        return this.answer(sock, { exit: 1, say: ['stargate: hook input too large'] });
      }
      // Calls end with "end\n" on a line of its own.
      const tail = Buffer.concat(chunks.slice(-2)).toString('latin1');
      if (!tail.endsWith('\nend\n')) return;
      done = true;
      const call = this.parse(Buffer.concat(chunks).toString('utf8'));
      if (!call) return this.answer(sock, { exit: 1, say: ['stargate: malformed or unauthenticated hook call'] });
      this.handler(call)
        .catch((err: Error): HookAnswer => {
          this.log.error('hook_failed', { hook: call.hook, err: err.message });
          return { exit: call.hook === 'pre-receive' ? 1 : 0, say: [`stargate: internal error: ${err.message}`] };
        })
        .then((a) => this.answer(sock, a));
    });
  }

  private answer(sock: net.Socket, a: HookAnswer): void {
    const lines = (a.say ?? []).flatMap((s) => s.split('\n')).map((s) => `say ${s}\n`);
    sock.end(lines.join('') + `exit ${a.exit}\n`);
  }

  private parse(text: string): HookCall | null {
    const lines = text.split('\n');
    if (lines[0] !== 'stargate-hook 1') return null;
    const call: HookCall = { hook: 'pre-receive', requestId: '', gitDir: '', env: {}, options: [], updates: [] };
    let secretOk = false;
    let i = 1;
    for (; i < lines.length; i++) {
      const line = lines[i];
      if (line === 'updates') break;
      const sp = line.indexOf(' ');
      const key = sp < 0 ? line : line.slice(0, sp);
      const val = sp < 0 ? '' : line.slice(sp + 1);
      if (key === 'secret') secretOk = timingSafeEqualStr(val, this.secret);
      else if (key === 'hook' && (val === 'pre-receive' || val === 'post-receive')) call.hook = val;
      else if (key === 'request') call.requestId = val;
      else if (key === 'gitdir') call.gitDir = val;
      else if (key === 'option') call.options.push(val);
      else if (key === 'env') {
        const s2 = val.indexOf(' ');
        const name = val.slice(0, s2);
        if (ENV_ALLOWED.has(name)) call.env[name] = val.slice(s2 + 1);
      }
    }
    if (!secretOk) return null;
    for (i++; i < lines.length; i++) {
      const line = lines[i];
      if (line === 'end') return call;
      const m = /^([0-9a-f]{40,64}) ([0-9a-f]{40,64}) (refs\/\S+|HEAD)$/.exec(line);
      if (!m) return null;
      call.updates.push({ old: m[1], new: m[2], ref: m[3] });
    }
    return null;
  }
}

function timingSafeEqualStr(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
