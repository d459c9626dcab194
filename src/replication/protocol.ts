/**
 * What leader and passives say to each other over HTTP (cluster token auth).
 *
 *   GET  /api/v1/replication/state            {node_id, epoch, seq, repos: {name: digest}}
 *   GET  /api/v1/replication/refs?repo=NAME   {epoch, seq, refs: {ref: oid}}
 *   GET  /api/v1/replication/events?node_id=ID&url=URL   server-sent events: {repo, seq, epoch}
 *   POST /api/v1/replication/ack              {node_id, epoch, repo?, seq, full?}
 *
 * `seq` counts accepted pushes on the leader within its epoch. A passive acks
 * (repo, seq) once it holds that repository's refs as of seq; `full` acks say
 * every repository is held as of seq.
 */
import crypto from 'node:crypto';

export interface StateResponse {
  node_id: string;
  epoch: number;
  seq: number;
  repos: Record<string, string>;
}
export interface RefsResponse {
  epoch: number;
  seq: number;
  refs: Record<string, string>;
}
export interface ChangeEvent {
  repo: string;
  seq: number;
  epoch: number;
}
export interface Ack {
  node_id: string;
  epoch: number;
  seq: number;
  repo?: string;
  full?: boolean;
}

/** Order-independent fingerprint of a repository's refs (internal refs/stargate/ excluded). */
export function refsDigest(refs: Map<string, string> | Record<string, string>): string {
  const entries = refs instanceof Map ? [...refs.entries()] : Object.entries(refs);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = crypto.createHash('sha1');
  for (const [ref, oid] of entries) h.update(`${ref} ${oid}\n`);
  return h.digest('hex');
}
