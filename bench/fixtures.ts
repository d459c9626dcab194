/**
 * Generated repositories, built once per run with `git fast-import` and then
 * hard-linked (packs are immutable) into every setup's copy:
 *   big   N MB of incompressible file content over 40 commits (clone throughput);
 *   refs  50,000 refs: 25,000 branches and 25,000 tags over 50 commits (ref listing);
 *   many  10,000 branches, pushed through a leader (idle passive).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { git, gitEnv, tempDir } from '../test/helpers/cluster.js';

const COMMITTER = 'committer Bench <bench@example.invalid> 1700000000 +0000';

/** Feed a fast-import stream produced by `write` into a new bare repository; refs end up packed. */
async function fastImport(write: (out: (chunk: string | Buffer) => Promise<void>) => Promise<void>): Promise<string> {
  const dir = path.join(tempDir('stargate-bench-src-'), 'src.git');
  await git(['init', '-q', '--bare', '--initial-branch=main', dir]);
  const child = spawn('git', ['fast-import', '--quiet'], { cwd: dir, env: gitEnv({ GIT_DIR: dir }), stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<number | null>((r) => child.on('close', r));
  const out = async (chunk: string | Buffer) => {
    if (!child.stdin.write(chunk)) await once(child.stdin, 'drain'); // rejects if the pipe breaks
  };
  await write(out);
  child.stdin.end();
  const code = await done;
  if (code !== 0) throw new Error(`git fast-import exited with ${code}`);
  await git(['pack-refs', '--all', '--prune'], dir, { GIT_DIR: dir });
  return dir;
}

function commitHeader(ref: string, mark: number, msg: string, parent: number | null): string {
  return `commit ${ref}\nmark :${mark}\n${COMMITTER}\ndata ${Buffer.byteLength(msg)}\n${msg}\n${parent ? `from :${parent}\n` : ''}`;
}

/** `mb` megabytes of random file content, 40 commits of equal size. */
export function bigRepo(mb: number): Promise<string> {
  const commits = 40;
  const fileBytes = 64 * 1024;
  const filesPerCommit = Math.ceil((mb * 1024 * 1024) / fileBytes / commits);
  return fastImport(async (out) => {
    let mark = 0;
    let parent: number | null = null;
    for (let c = 0; c < commits; c++) {
      const blobs: number[] = [];
      for (let f = 0; f < filesPerCommit; f++) {
        await out(`blob\nmark :${++mark}\ndata ${fileBytes}\n`);
        await out(crypto.randomBytes(fileBytes));
        await out('\n');
        blobs.push(mark);
      }
      const m = ++mark;
      await out(commitHeader('refs/heads/main', m, `commit ${c}`, parent));
      await out(blobs.map((b, i) => `M 100644 :${b} d${c}/f${i}.bin\n`).join('') + '\n');
      parent = m;
    }
  });
}

/**
 * A small history and `branches` + `tags` refs pointing into it (branches under
 * `prefix`). The refs are written straight into packed-refs: creating tens of
 * thousands through git one by one would take minutes and measure nothing.
 */
export async function manyRefsRepo(branches: number, tags: number, prefix = 'refs/heads/feature/'): Promise<string> {
  const dir = await fastImport(async (out) => {
    for (let c = 0; c < 50; c++) {
      const body = `line ${c}\n`;
      await out(`blob\nmark :${2 * c + 1}\ndata ${body.length}\n${body}\n`);
      await out(commitHeader('refs/heads/main', 2 * c + 2, `commit ${c}`, c > 0 ? 2 * c : null) + `M 100644 :${2 * c + 1} file.txt\n\n`);
    }
  });
  const commits = (await git(['rev-list', 'main'], dir, { GIT_DIR: dir })).stdout.trim().split('\n');
  const pad = (i: number) => String(i).padStart(5, '0');
  const refs: string[] = [`${commits[0]} refs/heads/main`];
  for (let i = 0; i < branches; i++) refs.push(`${commits[i % commits.length]} ${prefix}${pad(i)}`);
  for (let i = 0; i < tags; i++) refs.push(`${commits[i % commits.length]} refs/tags/v/${pad(i)}`);
  const name = (l: string) => l.slice(l.indexOf(' ') + 1);
  refs.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  fs.writeFileSync(path.join(dir, 'packed-refs'), `# pack-refs with: peeled fully-peeled sorted \n${refs.join('\n')}\n`);
  return dir;
}

/** Make `target` (a freshly initialised bare repository) hold exactly `source`'s objects and refs. */
export function install(source: string, target: string): void {
  const from = path.join(source, 'objects', 'pack');
  const to = path.join(target, 'objects', 'pack');
  fs.mkdirSync(to, { recursive: true });
  for (const f of fs.readdirSync(from)) {
    try {
      fs.linkSync(path.join(from, f), path.join(to, f));
    } catch {
      fs.copyFileSync(path.join(from, f), path.join(to, f));
    }
  }
  fs.copyFileSync(path.join(source, 'packed-refs'), path.join(target, 'packed-refs'));
}

/** Size in bytes of a repository's packs. */
export function packBytes(gitDir: string): number {
  const d = path.join(gitDir, 'objects', 'pack');
  return fs.readdirSync(d).filter((f) => f.endsWith('.pack')).reduce((n, f) => n + fs.statSync(path.join(d, f)).size, 0);
}

/** A bare repository holding a linear chain of `k` one-file commits; their ids, oldest first. */
export async function chain(k: number, tag: string): Promise<{ dir: string; shas: string[] }> {
  const dir = await fastImport(async (out) => {
    let parts: string[] = [];
    for (let c = 0; c < k; c++) {
      const body = `${tag} ${c}\n`;
      parts.push(`blob\nmark :${2 * c + 1}\ndata ${Buffer.byteLength(body)}\n${body}\n`);
      parts.push(commitHeader('refs/heads/main', 2 * c + 2, `${tag} ${c}`, c > 0 ? 2 * c : null) + `M 100644 :${2 * c + 1} file.txt\n\n`);
      if (parts.length > 500) {
        await out(parts.join(''));
        parts = [];
      }
    }
    await out(parts.join(''));
  });
  const shas = (await git(['rev-list', '--reverse', 'main'], dir, { GIT_DIR: dir })).stdout.trim().split('\n');
  return { dir, shas };
}
