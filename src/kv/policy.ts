/**
 * Ledger rules enforced in pre-receive for refs/kv* (see DESIGN.md "Ledger").
 * Returns null when the push may proceed, or the refusal to print.
 *
 * For each namespace a push must update refs/kv/<ns> and refs/kv-index/<ns>
 * together, each by exactly one commit on top of the current tip (so a
 * fast-forward), and the two commits must attest each other:
 *   ledger: KV-NS = ns, KV-Txn, Base-Tree = parent's tree (empty tree for the
 *           first), KV-Index-Tree = the index commit's tree, Keys-Set, Keys-Del;
 *   index:  KV-NS = ns, KV-Txn = the ledger's, KV-Ledger-Tree = the ledger commit's tree.
 * Cost: one `git cat-file --batch` per push touching refs/kv*, plus one
 * `git merge-base` only to word a refusal. Other refs are not our business.
 *
 * Refusals are one line each, starting "kv policy:" (client exit 3) or
 * "kv attestation mismatch:" (client exit 8).
 */
import { git } from '../git/spawn.js';
import type { HookAnswer, HookCall, RefUpdate } from '../git/hook-server.js';
import { CatFile, type GitObject } from './catfile.js';
import { indexRef, isValidNs, ledgerRef } from './keys.js';
import { ZERO_OID, emptyTreeFor, parseCommit, parseTrailers, type Commit } from './objects.js';

export type PolicyReason = 'deletion' | 'non_fast_forward' | 'multiple_commits' | 'unpaired' | 'namespace' | 'attestation';
export type PolicyVerdict = HookAnswer & { reason: PolicyReason };

const refuse = (reason: PolicyReason, line: string): PolicyVerdict => ({
  exit: 1,
  say: [reason === 'attestation' ? `kv attestation mismatch: ${line}` : `kv policy: ${line}`],
  reason,
});
const short = (oid: string) => oid.slice(0, 12);

interface Pair {
  ns: string;
  ledger?: RefUpdate;
  index?: RefUpdate;
}

export async function ledgerPolicy(call: HookCall): Promise<PolicyVerdict | null> {
  const kv = call.updates.filter((u) => u.ref.startsWith('refs/kv'));
  if (kv.length === 0) return null;

  // 1. Names and deletions: decided from the ref updates alone.
  const pairs = new Map<string, Pair>();
  for (const u of kv) {
    const m = /^refs\/(kv|kv-index)\/([^/]+)$/.exec(u.ref);
    if (!m || !isValidNs(m[2])) return refuse('namespace', `${u.ref}: not a ledger ref (use refs/kv/<ns> and refs/kv-index/<ns>, ns of letters, digits, '-', '_')`);
    if (ZERO_OID.test(u.new)) return refuse('deletion', `${u.ref}: deleting a ledger ref is refused; the ledger is append-only`);
    const p = pairs.get(m[2]) ?? { ns: m[2] };
    if (m[1] === 'kv') p.ledger = u;
    else p.index = u;
    pairs.set(m[2], p);
  }

  const cat = new CatFile({ ...process.env, ...call.env, GIT_DIR: call.gitDir });
  try {
    // 2. Everything needed, requested at once: the new commits and the ledger's current tip.
    const wanted = new Set<string>();
    for (const u of kv) {
      wanted.add(u.new);
      if (!ZERO_OID.test(u.old)) wanted.add(u.old);
    }
    const specs = [...wanted];
    const found = await cat.readMany(specs);
    const objs = new Map<string, GitObject | null>(specs.map((s, i) => [s, found[i]]));
    const commit = (oid: string): Commit | null => {
      const o = objs.get(oid);
      return o && o.type === 'commit' ? parseCommit(o.data) : null;
    };

    // 3. Each ref moves by exactly one commit on top of its current tip.
    for (const u of kv) {
      const c = commit(u.new);
      if (!c) return refuse('attestation', `${u.ref}: ${short(u.new)} is not a commit`);
      const creating = ZERO_OID.test(u.old);
      if (creating ? c.parents.length === 0 : c.parents.length === 1 && c.parents[0] === u.old) continue;
      if (!creating && !(await isAncestor(call, u.old, u.new)))
        return refuse('non_fast_forward', `${u.ref}: non-fast-forward update ${short(u.old)} -> ${short(u.new)} refused; the ledger is append-only (fetch and rebuild on the current tip)`);
      return refuse('multiple_commits', `${u.ref}: ${short(u.new)} must be a single ${creating ? 'root commit' : `commit whose only parent is the current tip ${short(u.old)}`}; push one transaction at a time`);
    }

    // 4. Ledger and index travel together and attest each other.
    for (const p of pairs.values()) {
      if (!p.ledger || !p.index) {
        const [has, lacks] = p.ledger ? [ledgerRef(p.ns), indexRef(p.ns)] : [indexRef(p.ns), ledgerRef(p.ns)];
        return refuse('unpaired', `${has} must be pushed together with ${lacks} (git push --atomic), one commit each`);
      }
      const bad = attest(p.ns, p.ledger, commit(p.ledger.new)!, p.index, commit(p.index.new)!, commit(p.ledger.old));
      if (bad) return refuse('attestation', bad);
    }
    return null;
  } finally {
    cat.close();
  }
}

/** The reason the pair does not attest each other, or null. Pure. */
export function attest(ns: string, lu: RefUpdate, l: Commit, iu: RefUpdate, i: Commit, lOld: Commit | null): string | null {
  const lt = parseTrailers(l.message);
  const it = parseTrailers(i.message);
  const at = (ref: string, oid: string) => `${ref} ${short(oid)}`;
  const L = at(lu.ref, lu.new);
  const I = at(iu.ref, iu.new);
  for (const k of ['KV-NS', 'KV-Txn', 'Base-Tree', 'KV-Index-Tree', 'Keys-Set', 'Keys-Del']) if (!lt.get(k)) return `${L}: trailer ${k} is missing`;
  for (const k of ['KV-NS', 'KV-Txn', 'KV-Ledger-Tree']) if (!it.get(k)) return `${I}: trailer ${k} is missing`;
  if (lt.get('KV-NS') !== ns) return `${L}: KV-NS is ${lt.get('KV-NS')}, the ref's namespace is ${ns}`;
  if (it.get('KV-NS') !== ns) return `${I}: KV-NS is ${it.get('KV-NS')}, the ref's namespace is ${ns}`;
  if (it.get('KV-Txn') !== lt.get('KV-Txn')) return `${I}: KV-Txn ${it.get('KV-Txn')} differs from the ledger commit's ${lt.get('KV-Txn')}`;
  const base = ZERO_OID.test(lu.old) ? emptyTreeFor(lu.new) : lOld?.tree;
  if (lt.get('Base-Tree') !== base) return `${L}: Base-Tree ${short(lt.get('Base-Tree')!)} is not the tree of the commit it builds on (${short(base ?? '?')})`;
  if (lt.get('KV-Index-Tree') !== i.tree) return `${L}: KV-Index-Tree ${short(lt.get('KV-Index-Tree')!)} is not the pushed index tree ${short(i.tree)}`;
  if (it.get('KV-Ledger-Tree') !== l.tree) return `${I}: KV-Ledger-Tree ${short(it.get('KV-Ledger-Tree')!)} is not the pushed ledger tree ${short(l.tree)}`;
  for (const k of ['Keys-Set', 'Keys-Del']) if (!/^\d{1,9}$/.test(lt.get(k)!)) return `${L}: ${k} must be a count, got ${lt.get(k)}`;
  if (Number(lt.get('Keys-Set')) + Number(lt.get('Keys-Del')) === 0) return `${L}: an empty transaction (Keys-Set and Keys-Del are 0)`;
  return null;
}

async function isAncestor(call: HookCall, old: string, neu: string): Promise<boolean> {
  const r = await git(call.gitDir, ['merge-base', '--is-ancestor', old, neu], { env: { ...process.env, ...call.env }, okCodes: [1, 128] });
  return r.code === 0;
}
