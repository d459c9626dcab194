/**
 * The ledger model: reading the tips and building one transaction (a ledger
 * commit and its index commit, bound to each other by trailers) in memory.
 * Only the subtrees a transaction touches are read; every new object is
 * hashed here and stored in one go by the caller.
 */
import crypto from 'node:crypto';
import type { CatFile } from './catfile.js';
import { KvError } from './errors.js';
import { keyPaths } from './keys.js';
import {
  BLOB_MODE,
  EMPTY_TREE,
  ObjectSet,
  TREE_MODE,
  formatTrailers,
  isTreeMode,
  parseCommit,
  parseTree,
  serializeCommit,
  serializeTree,
  type HashAlgo,
  type TreeEntry,
} from './objects.js';

export interface Tip {
  commit: string;
  tree: string;
  message: string;
}
export interface LedgerState {
  ledger: Tip | null;
  index: Tip | null;
}

export type Op = { op: 'set'; key: string; value: Buffer; ctype: string } | { op: 'del'; key: string };

export async function readTip(cat: CatFile, ref: string): Promise<Tip | null> {
  const o = await cat.read(ref);
  if (!o) return null;
  if (o.type !== 'commit') throw new KvError('KV_IO', `${ref} does not point to a commit`);
  const c = parseCommit(o.data);
  return { commit: o.oid, tree: c.tree, message: c.message };
}

export async function readState(cat: CatFile, ledgerRefName: string, indexRefName: string): Promise<LedgerState> {
  const [ledger, index] = await Promise.all([readTip(cat, ledgerRefName), readTip(cat, indexRefName)]);
  return { ledger, index };
}

export async function readTree(cat: CatFile, algo: HashAlgo, oid: string): Promise<TreeEntry[]> {
  const o = await cat.read(oid);
  if (!o || o.type !== 'tree') throw new KvError('KV_IO', `tree ${oid} is missing from the local clone`);
  return parseTree(o.data, algo);
}

type Edit = { mode: string; oid: string } | null;
interface EditNode {
  files: Map<string, Edit>;
  dirs: Map<string, EditNode>;
}

/**
 * Applies path -> blob (or null = remove) edits to `base`, writing changed
 * trees into `objects`. Empty directories disappear. Returns the new root tree
 * and the paths that were actually removed.
 */
export async function editTree(cat: CatFile, objects: ObjectSet, base: string | null, edits: Map<string, Edit>): Promise<{ tree: string; removed: Set<string> }> {
  const root: EditNode = { files: new Map(), dirs: new Map() };
  for (const [p, e] of edits) {
    const parts = p.split('/');
    let n = root;
    for (const d of parts.slice(0, -1)) {
      let next = n.dirs.get(d);
      if (!next) n.dirs.set(d, (next = { files: new Map(), dirs: new Map() }));
      n = next;
    }
    n.files.set(parts[parts.length - 1], e);
  }
  const removed = new Set<string>();
  const apply = async (oid: string | null, node: EditNode, prefix: string): Promise<string | null> => {
    const entries = oid ? await readTree(cat, objects.algo, oid) : [];
    const byName = new Map(entries.map((e) => [e.name, e]));
    await Promise.all(
      [...node.dirs].map(async ([name, child]) => {
        const cur = byName.get(name);
        const sub = await apply(cur && isTreeMode(cur.mode) ? cur.oid : null, child, `${prefix}${name}/`);
        if (sub === null) {
          if (cur && isTreeMode(cur.mode)) byName.delete(name);
        } else byName.set(name, { mode: TREE_MODE, name, oid: sub });
      }),
    );
    for (const [name, e] of node.files) {
      const cur = byName.get(name);
      if (e === null) {
        if (cur && !isTreeMode(cur.mode)) {
          byName.delete(name);
          removed.add(prefix + name);
        }
      } else byName.set(name, { mode: e.mode, name, oid: e.oid });
    }
    if (byName.size === 0 && prefix !== '') return null;
    return objects.add('tree', serializeTree([...byName.values()]));
  };
  const tree = (await apply(base, root, '')) ?? EMPTY_TREE[objects.algo];
  return { tree, removed };
}

export interface BuildInput {
  ns: string;
  ops: Op[];
  state: LedgerState;
  ident: string;
  date: string;
  txn?: string;
}

export interface BuiltTxn {
  txn: string;
  ledgerCommit: string;
  ledgerTree: string;
  indexCommit: string;
  indexTree: string;
  baseTree: string;
  set: string[];
  deleted: string[];
  missing: string[];
  objects: ObjectSet;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v) + '\n', 'utf8');

/** Builds the transaction, or returns null when it would change nothing (e.g. deleting absent keys). */
export async function buildTxn(cat: CatFile, algo: HashAlgo, input: BuildInput): Promise<BuiltTxn | null> {
  const { ns, state } = input;
  const txn = input.txn ?? crypto.randomUUID();
  const now = new Date().toISOString();
  const objects = new ObjectSet(algo);

  // Last operation on a key wins.
  const final = new Map<string, Op>();
  for (const op of input.ops) {
    final.delete(op.key);
    final.set(op.key, op);
  }

  const ledgerEdits = new Map<string, Edit>();
  const pointers = new Map<string, Buffer>();
  const dels: string[] = [];
  for (const op of final.values()) {
    const p = keyPaths(op.key);
    if (op.op === 'set') {
      const blob = objects.add('blob', op.value);
      const sha256 = crypto.createHash('sha256').update(op.value).digest('hex');
      const meta = { key: op.key, ctype: op.ctype, size: op.value.length, sha256, txn, updated_at: now };
      ledgerEdits.set(p.data, { mode: BLOB_MODE, oid: blob });
      ledgerEdits.set(p.meta, { mode: BLOB_MODE, oid: objects.add('blob', json(meta)) });
      pointers.set(p.index, json({ ...meta, blob, data: p.data, meta: p.meta }));
    } else {
      ledgerEdits.set(p.data, null);
      ledgerEdits.set(p.meta, null);
      dels.push(op.key);
    }
  }

  const baseTree = state.ledger?.tree ?? EMPTY_TREE[algo];
  const ledger = await editTree(cat, objects, state.ledger?.tree ?? null, ledgerEdits);
  const deleted: string[] = [];
  const missing: string[] = [];
  for (const k of dels) {
    const p = keyPaths(k);
    (ledger.removed.has(p.data) || ledger.removed.has(p.meta) ? deleted : missing).push(k);
  }
  const set = [...final.values()].filter((o) => o.op === 'set').map((o) => o.key);
  if (set.length === 0 && deleted.length === 0) return null;

  const indexEdits = new Map<string, Edit>();
  for (const [path, body] of pointers) indexEdits.set(path, { mode: BLOB_MODE, oid: objects.add('blob', body) });
  for (const key of deleted) indexEdits.set(keyPaths(key).index, { mode: BLOB_MODE, oid: objects.add('blob', json({ key, deleted: true, txn, deleted_at: now })) });
  const index = await editTree(cat, objects, state.index?.tree ?? null, indexEdits);

  const subject = summary(set, deleted, ns);
  const who = `${input.ident} ${input.date}`;
  const ledgerCommit = objects.add(
    'commit',
    serializeCommit({
      tree: ledger.tree,
      parents: state.ledger ? [state.ledger.commit] : [],
      author: who,
      committer: who,
      message: `kv: ${subject}\n\n${formatTrailers([
        ['KV-NS', ns],
        ['KV-Txn', txn],
        ['Base-Tree', baseTree],
        ['KV-Index-Tree', index.tree],
        ['Keys-Set', set.length],
        ['Keys-Del', deleted.length],
      ])}\n`,
    }),
  );
  const indexCommit = objects.add(
    'commit',
    serializeCommit({
      tree: index.tree,
      parents: state.index ? [state.index.commit] : [],
      author: who,
      committer: who,
      message: `kv-index: ${subject}\n\n${formatTrailers([
        ['KV-NS', ns],
        ['KV-Txn', txn],
        ['KV-Ledger-Tree', ledger.tree],
      ])}\n`,
    }),
  );
  return { txn, ledgerCommit, ledgerTree: ledger.tree, indexCommit, indexTree: index.tree, baseTree, set, deleted, missing, objects };
}

function summary(set: string[], deleted: string[], ns: string): string {
  const clip = (k: string) => (k.length > 72 ? `${k.slice(0, 72)}…` : k);
  if (set.length + deleted.length === 1) return set.length ? `set ${clip(set[0])} in ${ns}` : `delete ${clip(deleted[0])} in ${ns}`;
  return `${set.length} set, ${deleted.length} deleted in ${ns}`;
}
