/**
 * Git objects in-process: hashing, tree and commit encoding, commit trailers,
 * and a packfile writer. Building a 10,000-key transaction this way costs one
 * `git index-pack` (or `unpack-objects`) instead of a process per key.
 */
import crypto from 'node:crypto';
import zlib from 'node:zlib';

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

// ---- packs ----
const PACK_TYPE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

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

  /**
   * A version 2 packfile (no deltas) holding every object, and its version 2
   * index: what `git index-pack` would write, without re-reading the pack.
   */
  toPack(): { pack: Buffer; idx: Buffer; checksum: string } {
    const parts: Buffer[] = [];
    const head = Buffer.alloc(12);
    head.write('PACK', 0, 'latin1');
    head.writeUInt32BE(2, 4);
    head.writeUInt32BE(this.objects.size, 8);
    parts.push(head);
    const entries: { oid: string; offset: number; crc: number }[] = [];
    let offset = head.length;
    for (const [oid, { type, data }] of this.objects) {
      const h = packHeader(PACK_TYPE[type], data.length);
      const z = compress(data);
      entries.push({ oid, offset, crc: crc32(z, crc32(h)) });
      parts.push(h, z);
      offset += h.length + z.length;
    }
    const hash = crypto.createHash(this.algo);
    for (const p of parts) hash.update(p);
    const trailer = hash.digest();
    parts.push(trailer);
    return { pack: Buffer.concat(parts), idx: packIndex(this.algo, entries, trailer), checksum: trailer.toString('hex') };
  }
}

function packIndex(algo: HashAlgo, entries: { oid: string; offset: number; crc: number }[], packChecksum: Buffer): Buffer {
  const sorted = [...entries].sort((a, b) => (a.oid < b.oid ? -1 : a.oid > b.oid ? 1 : 0));
  const n = sorted.length;
  const fanout = Buffer.alloc(256 * 4);
  let i = 0;
  for (let b = 0; b < 256; b++) {
    while (i < n && parseInt(sorted[i].oid.slice(0, 2), 16) <= b) i++;
    fanout.writeUInt32BE(i, b * 4);
  }
  const oids = Buffer.concat(sorted.map((e) => Buffer.from(e.oid, 'hex')));
  const crcs = Buffer.alloc(n * 4);
  const offs = Buffer.alloc(n * 4);
  const large: bigint[] = [];
  sorted.forEach((e, k) => {
    crcs.writeUInt32BE(e.crc, k * 4);
    if (e.offset < 0x80000000) offs.writeUInt32BE(e.offset, k * 4);
    else {
      offs.writeUInt32BE((0x80000000 | large.length) >>> 0, k * 4);
      large.push(BigInt(e.offset));
    }
  });
  const big = Buffer.alloc(large.length * 8);
  large.forEach((v, k) => big.writeBigUInt64BE(v, k * 8));
  const body = Buffer.concat([Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]), fanout, oids, crcs, offs, big, packChecksum]);
  return Buffer.concat([body, crypto.createHash(algo).update(body).digest()]);
}

/** Loose-object encoding: zlib("<type> <size>\0<data>"). */
export function looseObject(type: ObjectType, data: Buffer): Buffer {
  return compress(Buffer.concat([Buffer.from(`${type} ${data.length}\0`), data]));
}

/**
 * zlib as git writes it. Objects under 1 KiB are stored (a valid zlib stream
 * at level 0, as with core.compression=0): a zlib call costs ~35 µs however
 * small the input, which dominated 10,000-key transactions, and gains little.
 */
const STORE_BELOW = 1024;
export function compress(data: Buffer): Buffer {
  if (data.length >= STORE_BELOW) return zlib.deflateSync(data, { level: data.length > 1 << 20 ? 1 : 6 });
  const out = Buffer.alloc(2 + 5 + data.length + 4);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // no preset dictionary, fastest; (0x78 << 8 | 0x01) % 31 === 0
  out[2] = 0x01; // final block, stored
  out.writeUInt16LE(data.length, 3);
  out.writeUInt16LE(~data.length & 0xffff, 5);
  data.copy(out, 7);
  out.writeUInt32BE(adler32(data), 7 + data.length);
  return out;
}

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < buf.length; i++) {
    a = (a + buf[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

let CRC_TABLE: Int32Array | null = null;
function crc32(buf: Buffer, seed = 0): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer, s?: number) => number }).crc32;
  if (native) return native(buf, seed);
  if (!CRC_TABLE) {
    CRC_TABLE = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c;
    }
  }
  let c = ~seed;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function packHeader(type: number, size: number): Buffer {
  const bytes: number[] = [];
  let b = (type << 4) | (size & 0x0f);
  let rest = Math.floor(size / 16);
  while (rest > 0) {
    bytes.push(b | 0x80);
    b = rest & 0x7f;
    rest = Math.floor(rest / 128);
  }
  bytes.push(b);
  return Buffer.from(bytes);
}
