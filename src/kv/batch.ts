/**
 * JSON Lines batches for `mset`. One operation per line:
 *   {"op":"set","key":"k","value_b64":"aGk=","ctype":"text/plain"}   (ctype optional)
 *   {"op":"del","key":"k"}
 * Blank lines are skipped. The first malformed line stops everything (exit 5,
 * naming the line); an invalid key exits 4, also naming the line.
 */
import { BadInputError, InvalidKeyError } from './errors.js';
import { validateKey } from './keys.js';
import type { Op } from './ledger.js';

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DEFAULT_CTYPE = 'application/octet-stream';

export function parseBatch(text: string, name = 'batch'): Op[] {
  const ops: Op[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const where = `${name}:${i + 1}`;
    const bad = (why: string) => new BadInputError(`${where}: ${why}`, { line: i + 1 });
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw bad(`not valid JSON (${(e as Error).message})`);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('expected a JSON object');
    const o = v as Record<string, unknown>;
    if (o.op !== 'set' && o.op !== 'del') throw bad(`"op" must be "set" or "del", got ${JSON.stringify(o.op)}`);
    if (typeof o.key !== 'string') throw bad('"key" must be a string');
    try {
      validateKey(o.key);
    } catch (e) {
      throw new InvalidKeyError(`${where}: ${(e as Error).message}`, { line: i + 1 });
    }
    const allowed = o.op === 'set' ? ['op', 'key', 'value_b64', 'ctype'] : ['op', 'key'];
    const extra = Object.keys(o).filter((k) => !allowed.includes(k));
    if (o.op === 'set') {
      if (typeof o.value_b64 !== 'string' || !B64.test(o.value_b64)) throw bad('"value_b64" must be a base64 string');
      if (o.ctype !== undefined && (typeof o.ctype !== 'string' || o.ctype.length > 255 || /[\u0000-\u001f]/.test(o.ctype))) throw bad('"ctype" must be a short string');
      if (extra.length) throw bad(`unknown field ${JSON.stringify(extra[0])}`);
      ops.push({ op: 'set', key: o.key, value: Buffer.from(o.value_b64, 'base64'), ctype: (o.ctype as string | undefined) ?? DEFAULT_CTYPE });
    } else {
      if (extra.length) throw bad(`unknown field ${JSON.stringify(extra[0])}`);
      ops.push({ op: 'del', key: o.key });
    }
  }
  return ops;
}
