/**
 * What every git kv command shares: the global options, output in text or
 * JSON, and reading a value argument.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { KvError } from './errors.js';
import { validateNs } from './keys.js';

export interface Globals {
  ns: string;
  remote: string;
  json: boolean;
  expectTree?: string;
}

/** Global options, validated: a bad namespace exits 4 and a malformed OID exits 64, before any network call. */
export function globals(cmd: Command): Globals {
  const o = cmd.optsWithGlobals() as { ns?: string; remote?: string; json?: boolean; expectTree?: string };
  const g: Globals = { ns: o.ns ?? 'main', remote: o.remote ?? 'origin', json: !!o.json, expectTree: o.expectTree };
  validateNs(g.ns);
  if (!g.remote || g.remote.startsWith('-')) throw new KvError('KV_USAGE', `invalid --remote ${JSON.stringify(g.remote)}`);
  if (g.expectTree !== undefined) {
    g.expectTree = g.expectTree.toLowerCase();
    if (!/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(g.expectTree)) throw new KvError('KV_USAGE', `--expect-tree needs a full tree id (40 or 64 hex digits), got ${JSON.stringify(g.expectTree)}`);
  }
  return g;
}

export function printJson(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + '\n');
}

export function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer | string) => parts.push(typeof d === 'string' ? Buffer.from(d) : d));
    stream.on('end', () => resolve(Buffer.concat(parts)));
    stream.on('error', reject);
  });
}

/** `-` reads stdin, `@FILE` reads a file, anything else is the value itself (UTF-8). */
export async function readValue(arg: string): Promise<{ value: Buffer; literal: boolean }> {
  if (arg === '-') return { value: await readAll(process.stdin), literal: false };
  if (arg.startsWith('@') && arg.length > 1) {
    try {
      return { value: fs.readFileSync(arg.slice(1)), literal: false };
    } catch (e) {
      throw new KvError('KV_IO', `cannot read ${arg.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return { value: Buffer.from(arg, 'utf8'), literal: true };
}
