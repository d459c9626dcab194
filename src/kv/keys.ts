/**
 * Keys, namespaces and where they live in the ledger (DESIGN.md "Ledger").
 *
 * Key rules: 1 to 512 bytes of UTF-8; no control characters (U+0000–U+001F,
 * U+007F–U+009F); no unpaired surrogates. Any other character is allowed,
 * including `/`, spaces and non-ASCII letters.
 *
 * The URL-safe form of a key keeps `A–Z a–z 0–9 - _` and writes every other
 * byte of its UTF-8 encoding as `%XX` (upper-case hex). It is reversible, never
 * contains `/` or `.`, and a key's prefix encodes to a prefix of its form.
 */
import crypto from 'node:crypto';
import { InvalidKeyError } from './errors.js';

export const MAX_KEY_BYTES = 512;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NS_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Throws InvalidKeyError (exit 4) when `key` breaks the key rules. */
export function validateKey(key: string): void {
  const shown = JSON.stringify(key.length > 80 ? key.slice(0, 80) + '…' : key);
  if (key.length === 0) throw new InvalidKeyError('invalid key: the key is empty');
  // eslint-disable-next-line no-control-regex
  const ctl = /[\u0000-\u001f\u007f-\u009f]/.exec(key);
  if (ctl) throw new InvalidKeyError(`invalid key ${shown}: control character U+${ctl[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()} at position ${ctl.index}`);
  if (LONE_SURROGATE.test(key)) throw new InvalidKeyError(`invalid key ${shown}: not valid Unicode (unpaired surrogate)`);
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new InvalidKeyError(`invalid key ${shown}: ${bytes} bytes long, the limit is ${MAX_KEY_BYTES}`);
}

/** Namespaces name refs (refs/kv/<ns>): letters, digits, `-`, `_`; 1–64 characters. */
export function validateNs(ns: string): void {
  if (!NS_RE.test(ns)) throw new InvalidKeyError(`invalid namespace ${JSON.stringify(ns)}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit`);
}
export const isValidNs = (ns: string) => NS_RE.test(ns);

export function encodeKey(key: string): string {
  let out = '';
  for (const b of Buffer.from(key, 'utf8')) {
    const safe = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f;
    out += safe ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Inverse of encodeKey; null when `name` is not a URL-safe form this module writes. */
export function decodeKey(name: string): string | null {
  if (!/^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/.test(name)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '%') {
      bytes.push(parseInt(name.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(name.charCodeAt(i));
  }
  const key = Buffer.from(bytes).toString('utf8');
  return encodeKey(key) === name ? key : null;
}

export const ledgerRef = (ns: string) => `refs/kv/${ns}`;
export const indexRef = (ns: string) => `refs/kv-index/${ns}`;

/** `hh/hh`: hex pairs 1–2 and 3–4 of SHA-256(key). */
export function hashShard(key: string): [string, string] {
  const h = crypto.createHash('sha256').update(key, 'utf8').digest('hex');
  return [h.slice(0, 2), h.slice(2, 4)];
}

/** `pp/pp`: characters 1–2 and 3–4 of the key's URL-safe form, padded with `_` when shorter. */
export function prefixShard(encoded: string): [string, string] {
  const p = encoded.padEnd(4, '_');
  return [p.slice(0, 2), p.slice(2, 4)];
}

export interface KeyPaths {
  key: string;
  encoded: string;
  data: string;
  meta: string;
  index: string;
}

export function keyPaths(key: string): KeyPaths {
  const enc = encodeKey(key);
  const [h1, h2] = hashShard(key);
  const [p1, p2] = prefixShard(enc);
  return {
    key,
    encoded: enc,
    data: `data/${h1}/${h2}/${enc}`,
    meta: `meta/${h1}/${h2}/${enc}.meta`,
    index: `index/${p1}/${p2}/${enc}.ref`,
  };
}
