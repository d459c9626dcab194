/**
 * The atomic push of one transaction and what the server's answer means.
 * The server speaks through `remote:` lines (pre-receive output) and the
 * per-ref status; the client turns them into exit codes.
 */
import { run } from '../git/spawn.js';
import { KvError, PushRefusedError } from './errors.js';
import type { Repo } from './repo.js';

export type PushOutcome = { kind: 'ok' } | { kind: 'race'; detail: string } | { kind: 'refused'; error: KvError };

export async function pushAtomic(repo: Repo, remote: string, updates: { ref: string; oid: string }[]): Promise<PushOutcome> {
  let r;
  try {
    r = await run('git', ['push', '--atomic', '--porcelain', '--no-verify', remote, ...updates.map((u) => `${u.oid}:${u.ref}`)], { env: repo.env, okCodes: [1, 128] });
  } catch (e) {
    return { kind: 'refused', error: new KvError('KV_IO', `git push to ${remote} failed: ${e instanceof Error ? e.message : String(e)}`) };
  }
  return classifyPush(r.code, r.stdout.toString('utf8'), r.stderr, remote);
}

/** Pure: exit status, porcelain stdout and stderr of `git push` -> outcome. */
export function classifyPush(code: number, stdout: string, stderr: string, remote = 'the remote'): PushOutcome {
  const statusLines = stdout.split('\n').filter((l) => /^[ *+\-!=]\t/.test(l));
  const remoteSaid = stderr
    .split('\n')
    .filter((l) => l.startsWith('remote: '))
    .map((l) => l.slice(8).trim())
    .filter(Boolean);
  const said = remoteSaid.join('\n');
  const oneLine = (s: string) => s.split('\n').find((l) => l.trim())?.trim() ?? '';
  const rejected = statusLines.filter((l) => l.startsWith('!'));
  if (code === 0 && rejected.length === 0) return { kind: 'ok' };

  const leader = /not leader(?:; leader is (\S+))?/i.exec(said);
  if (leader) {
    const url = leader[1] && leader[1] !== 'unknown' ? leader[1] : null;
    const msg = url ? `not leader; leader is ${url}` : oneLine(said.slice(leader.index));
    return { kind: 'refused', error: new PushRefusedError('KV_NOT_LEADER', msg, { leader_url: url }) };
  }
  const all = `${said}\n${stderr}`;
  if (/sync refused/i.test(all)) return { kind: 'refused', error: new PushRefusedError('KV_SYNC_REFUSED', oneLine(all.slice(all.search(/sync refused/i)))) };
  if (/mirror time(?:d )?out/i.test(all)) return { kind: 'refused', error: new PushRefusedError('KV_MIRROR_TIMEOUT', oneLine(all.slice(all.search(/mirror time/i)))) };
  const att = /kv attestation mismatch:.*/.exec(said);
  if (att) return { kind: 'refused', error: new PushRefusedError('KV_ATTESTATION', att[0]) };
  const pol = /kv policy:.*/.exec(said);
  if (pol) return { kind: 'refused', error: new PushRefusedError('KV_POLICY', pol[0]) };
  if (rejected.some((l) => /hook declined/.test(l))) return { kind: 'refused', error: new PushRefusedError('KV_POLICY', `the server refused the push: ${oneLine(said) || 'pre-receive hook declined'}`) };

  // Someone else's transaction landed first: refused before sending (fetch first) or at the ref update.
  const race = rejected.find((l) => /\((fetch first|non-fast-forward|stale info|atomic transaction failed|failed to update ref|failed to lock|incorrect old value provided)\)/.test(l));
  if (race || /cannot lock ref .* but expected/.test(said)) return { kind: 'race', detail: (race ?? said).trim() };

  const why = oneLine(remoteSaid.length ? said : stderr.replace(/^To .*$/m, '')) || `git push exited with ${code}`;
  return { kind: 'refused', error: new KvError('KV_IO', `pushing to ${remote} failed: ${why}`, { stderr }) };
}
