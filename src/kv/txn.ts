/**
 * One write transaction from start to acknowledgement:
 *   1. fetch the remote's ledger and index tips;
 *   2. with --expect-tree, stop (exit 2) unless the ledger tree is the one expected;
 *   3. build the ledger and index commits on those tips and store their objects;
 *   4. push both refs atomically;
 *   5. on a lost fast-forward race, go back to 1 (bounded) — unless --expect-tree
 *      was given, in which case the loser exits 2 and nothing changed.
 */
import { CatFile } from './catfile.js';
import { CasConflictError, KvError } from './errors.js';
import { buildTxn, readState, type BuiltTxn, type Op } from './ledger.js';
import { indexRef, ledgerRef } from './keys.js';
import { EMPTY_TREE } from './objects.js';
import { pushAtomic } from './push.js';
import { writeObjects } from './pack.js';
import { advanceLocalRefs, committerIdent, fetchTips, gitDate, jitter, openRepo, type Repo } from './repo.js';

export const MAX_ATTEMPTS = 25;

/** GIT_KV_TRACE=1 prints how long each phase of a transaction took, on stderr. */
const trace = process.env.GIT_KV_TRACE === '1' || process.env.GIT_KV_TRACE === 'true';
let mark = performance.now();
function phase(name: string): void {
  if (!trace) return;
  const now = performance.now();
  process.stderr.write(`git kv: trace ${name} ${(now - mark).toFixed(1)} ms\n`);
  mark = now;
}

export interface TxnOptions {
  ns: string;
  remote: string;
  expectTree?: string;
}

export interface TxnResult {
  ns: string;
  committed: boolean;
  attempts: number;
  txn?: string;
  commit?: string;
  tree: string;
  index_commit?: string;
  set: string[];
  deleted: string[];
  missing: string[];
}

export async function runTxn(ops: Op[], opts: TxnOptions, repoIn?: Repo): Promise<TxnResult> {
  const repo = repoIn ?? (await openRepo());
  const identP = committerIdent(repo);
  const lref = ledgerRef(opts.ns);
  const iref = indexRef(opts.ns);
  let lastRace = '';
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    phase(`attempt ${attempt} start`);
    await fetchTips(repo, opts.remote, opts.ns);
    phase('fetch');
    const cat = new CatFile(repo.env);
    let built: BuiltTxn | null;
    let currentTree: string;
    try {
      const state = await readState(cat, lref, iref);
      currentTree = state.ledger?.tree ?? EMPTY_TREE[repo.algo];
      if (opts.expectTree && opts.expectTree !== currentTree) {
        throw new CasConflictError(`CAS conflict: ${lref} is at tree ${currentTree}, expected ${opts.expectTree}; nothing was written`, { tree: currentTree });
      }
      built = await buildTxn(cat, repo.algo, { ns: opts.ns, ops, state, ident: await identP, date: gitDate() });
    } finally {
      cat.close();
    }
    if (!built) {
      const dels = ops.filter((o) => o.op === 'del').map((o) => o.key);
      return { ns: opts.ns, committed: false, attempts: attempt, tree: currentTree, set: [], deleted: [], missing: [...new Set(dels)] };
    }
    phase(`build (${built.objects.size} objects)`);
    await writeObjects(repo, built.objects);
    phase('store');
    const updates = [
      { ref: lref, oid: built.ledgerCommit },
      { ref: iref, oid: built.indexCommit },
    ];
    const outcome = await pushAtomic(repo, opts.remote, updates);
    phase(`push (${outcome.kind})`);
    if (outcome.kind === 'ok') {
      await advanceLocalRefs(repo, updates);
      return {
        ns: opts.ns,
        committed: true,
        attempts: attempt,
        txn: built.txn,
        commit: built.ledgerCommit,
        tree: built.ledgerTree,
        index_commit: built.indexCommit,
        set: built.set,
        deleted: built.deleted,
        missing: built.missing,
      };
    }
    if (outcome.kind === 'refused') throw outcome.error;
    if (opts.expectTree) throw new CasConflictError(`CAS conflict: ${lref} moved while this transaction was being pushed (expected tree ${opts.expectTree}); nothing was written`);
    lastRace = outcome.detail;
    await jitter(Math.min(attempt, 5));
  }
  throw new KvError('KV_CAS_CONFLICT', `gave up after ${MAX_ATTEMPTS} attempts: other writers kept moving ${lref} (${lastRace.split('\n')[0]})`);
}
