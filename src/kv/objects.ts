/**
 * Git objects in-process: hashing, tree and commit encoding, commit trailers,
 * and the set of new objects a transaction writes (see pack.ts for storing them).
 */
import crypto from 'node:crypto';

export type ObjectType = 'commit' | 'tree' | 'blob' | 'tag';
export type HashAlgo = 'sha1' | 'sha256';

export const EMPTY_TREE: Record<HashAlgo, string> = {
  sha1: '4b825dc642cb6eb9a060e54bf8d69288fbee4904',
  sha256: '6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321',
};
export const ZERO_OID = /^0+$/;
export const algoOfOid = (oid: string): HashAlgo => (oid.length === 64 ? 'sha256' : 'sha1');
export const emptyTreeFor = (oid: string) => EMPTY_TREE[algoOfOid(oid)];

export function hashObject(algo: HashAlgo, type: ObjectType, data: Buffer): string {
  return crypto.createHash(algo).update(`${type} ${data.length}\0`).update(data).digest('hex');
}

// ---- trees ----
export interface TreeEntry {
  mode: string;
  /** Entry name as a latin1 string, so any byte sequence survives a round trip. */
  name: string;
  oid: string;
}
export const TREE_MODE = '40000';
export const BLOB_MODE = '100644';
export const isTreeMode = (mode: string) => mode === TREE_MODE;

export function parseTree(data: Buffer, algo: HashAlgo): TreeEntry[] {
  const len = algo === 'sha256' ? 32 : 20;
  const out: TreeEntry[] = [];
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const nul = data.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 1 + len > data.length) throw new Error('malformed tree object');
    out.push({ mode: data.toString('latin1', i, sp), name: data.toString('latin1', sp + 1, nul), oid: data.toString('hex', nul + 1, nul + 1 + len) });
    i = nul + 1 + len;
  }
  return out;
}

/** Git orders entries by name bytes, comparing a tree's name as if it ended in '/'. */
function sortKey(e: TreeEntry): string {
  return isTreeMode(e.mode) ? e.name + '/' : e.name;
}

export function serializeTree(entries: TreeEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => {
    const x = sortKey(a);
    const y = sortKey(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return Buffer.concat(sorted.flatMap((e) => [Buffer.from(`${e.mode} ${e.name}\0`, 'latin1'), Buffer.from(e.oid, 'hex')]));
}

// ---- commits ----
export interface Commit {
  tree: string;
  parents: string[];
  message: string;
}

export function parseCommit(data: Buffer): Commit {
  const text = data.toString('utf8');
  const end = text.indexOf('\n\n');
  const head = end < 0 ? text : text.slice(0, end);
  const c: Commit = { tree: '', parents: [], message: end < 0 ? '' : text.slice(end + 2) };
  for (const line of head.split('\n')) {
    if (line.startsWith('tree ')) c.tree = line.slice(5);
    else if (line.startsWith('parent ')) c.parents.push(line.slice(7));
  }
  return c;
}

export function serializeCommit(c: { tree: string; parents: string[]; author: string; committer: string; message: string }): Buffer {
  const lines = [`tree ${c.tree}`, ...c.parents.map((p) => `parent ${p}`), `author ${c.author}`, `committer ${c.committer}`];
  return Buffer.from(`${lines.join('\n')}\n\n${c.message.endsWith('\n') ? c.message : c.message + '\n'}`, 'utf8');
}

/** Trailers: `Key: value` lines of the message's last paragraph. Later duplicates are ignored. */
export function parseTrailers(message: string): Map<string, string> {
  const paras = message.trimEnd().split(/\n\s*\n/);
  const last = paras.length > 1 ? paras[paras.length - 1] : '';
  const out = new Map<string, string>();
  for (const line of last.split('\n')) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*): ?(.*)$/.exec(line);
    if (m && !out.has(m[1])) out.set(m[1], m[2].trim());
  }
  return out;
}

export function formatTrailers(pairs: [string, string | number][]): string {
  return pairs.map(([k, v]) => `${k}: ${v}`).join('\n');
}

/** New objects of one transaction, deduplicated by id. */
export class ObjectSet {
  readonly objects = new Map<string, { type: ObjectType; data: Buffer }>();
  constructor(readonly algo: HashAlgo) {}
  add(type: ObjectType, data: Buffer): string {
    const oid = hashObject(this.algo, type, data);
    if (!this.objects.has(oid)) this.objects.set(oid, { type, data });
    return oid;
  }
  get size() {
    return this.objects.size;
  }
}
