/**
 * One `git cat-file --batch` process answering many reads. Requests are written
 * as they come and answers are matched in order, so reading a whole level of
 * a tree costs one round trip, not one process per object.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnChild } from '../git/spawn.js';
import { KvError } from './errors.js';
import type { ObjectType } from './objects.js';

export interface GitObject {
  oid: string;
  type: ObjectType;
  data: Buffer;
}

interface Pending {
  spec: string;
  resolve: (o: GitObject | null) => void;
  reject: (e: Error) => void;
}

export class CatFile {
  private readonly child: ChildProcess;
  private readonly queue: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes needed before the head of the queue can be answered (avoids re-joining a large blob per chunk). */
  private need = 0;
  private failed: Error | null = null;
  private stderr = '';

  /** `env` must carry GIT_DIR (and, inside a hook, the quarantine variables). */
  constructor(env: NodeJS.ProcessEnv) {
    this.child = spawnChild('git', ['cat-file', '--batch'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.child.stdin!.on('error', () => {});
    const fail = (why: string) => {
      this.failed = new KvError('KV_IO', `git cat-file ${why}${this.stderr ? `: ${this.stderr.trim().slice(0, 300)}` : ''}`);
      for (const p of this.queue.splice(0)) p.reject(this.failed);
    };
    this.child.on('error', (e) => fail(`could not start: ${e.message}`));
    this.child.on('close', (code) => {
      if (this.queue.length) fail(`exited (${code}) with ${this.queue.length} request(s) unanswered`);
      else this.failed = new KvError('KV_IO', 'git cat-file has exited');
    });
  }

  /** The object named by `spec` (an oid, a ref, or `rev:path`), or null when missing. */
  read(spec: string): Promise<GitObject | null> {
    if (this.failed) return Promise.reject(this.failed);
    if (/[\n\r]/.test(spec)) return Promise.reject(new KvError('KV_IO', 'object name contains a line break'));
    return new Promise((resolve, reject) => {
      this.queue.push({ spec, resolve, reject });
      this.child.stdin!.write(spec + '\n');
    });
  }

  readMany(specs: string[]): Promise<(GitObject | null)[]> {
    return Promise.all(specs.map((s) => this.read(s)));
  }

  close(): void {
    this.child.stdin!.end();
  }

  private onData(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    if (this.buffered < this.need) return;
    let buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.need = 0;
    const keep = () => {
      this.chunks = buf.length ? [buf] : [];
      this.buffered = buf.length;
    };
    for (;;) {
      const p = this.queue[0];
      if (!p) return keep();
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return keep();
      const header = buf.toString('utf8', 0, nl);
      const m = /^([0-9a-f]{40,64}) (\w+) (\d+)$/.exec(header);
      if (!m) {
        // "<spec> missing" / "<spec> ambiguous"
        buf = buf.subarray(nl + 1);
        this.queue.shift();
        p.resolve(null);
        continue;
      }
      const size = Number(m[3]);
      if (buf.length < nl + 1 + size + 1) {
        this.need = nl + 1 + size + 1;
        return keep();
      }
      const data = Buffer.from(buf.subarray(nl + 1, nl + 1 + size));
      buf = buf.subarray(nl + 1 + size + 1);
      this.queue.shift();
      p.resolve({ oid: m[1], type: m[2] as ObjectType, data });
    }
  }
}
