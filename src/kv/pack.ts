/**
 * Storing a transaction's objects the way git does, without a process: a
 * version 2 packfile (no deltas) with its version 2 index, byte for byte what
 * `git index-pack` would write, or loose objects for a handful.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { KvError } from './errors.js';
import type { HashAlgo, ObjectSet, ObjectType } from './objects.js';

const PACK_TYPE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 };

/**
 * Stores the transaction's new objects the way git does, without a process:
 * loose objects for a handful, one pack and its index for many. Files are
 * written under a temporary name and renamed into place, the index last, so
 * readers never see a partial pack.
 */
export async function writeObjects(repo: { objectsDir: string }, objects: ObjectSet): Promise<void> {
  if (objects.size === 0) return;
  try {
    if (objects.size <= 64) {
      for (const [oid, { type, data }] of objects.objects) {
        const dir = path.join(repo.objectsDir, oid.slice(0, 2));
        const file = path.join(dir, oid.slice(2));
        if (fs.existsSync(file)) continue;
        fs.mkdirSync(dir, { recursive: true });
        placeFile(dir, file, looseObject(type, data));
      }
      return;
    }
    const { pack, idx, checksum } = buildPack(objects);
    const dir = path.join(repo.objectsDir, 'pack');
    fs.mkdirSync(dir, { recursive: true });
    placeFile(dir, path.join(dir, `pack-${checksum}.pack`), pack);
    placeFile(dir, path.join(dir, `pack-${checksum}.idx`), idx);
  } catch (e) {
    throw new KvError('KV_IO', `storing ${objects.size} new object(s) in ${repo.objectsDir} failed: ${(e as Error).message}`);
  }
}

function placeFile(dir: string, final: string, body: Buffer): void {
  const tmp = path.join(dir, `tmp_kv_${process.pid}_${crypto.randomBytes(6).toString('hex')}`);
  fs.writeFileSync(tmp, body, { mode: 0o444 });
  fs.renameSync(tmp, final);
}

/**
 * A version 2 packfile (no deltas) holding every object, and its version 2
 * index: what `git index-pack` would write, without re-reading the pack.
 */
export function buildPack(objects: ObjectSet): { pack: Buffer; idx: Buffer; checksum: string } {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(12);
  head.write('PACK', 0, 'latin1');
  head.writeUInt32BE(2, 4);
  head.writeUInt32BE(objects.objects.size, 8);
  parts.push(head);
  const entries: { oid: string; offset: number; crc: number }[] = [];
  let offset = head.length;
  for (const [oid, { type, data }] of objects.objects) {
    const h = packHeader(PACK_TYPE[type], data.length);
    const z = compress(data);
    entries.push({ oid, offset, crc: crc32(z, crc32(h)) });
    parts.push(h, z);
    offset += h.length + z.length;
  }
  const hash = crypto.createHash(objects.algo);
  for (const p of parts) hash.update(p);
  const trailer = hash.digest();
  parts.push(trailer);
  return { pack: Buffer.concat(parts), idx: packIndex(objects.algo, entries, trailer), checksum: trailer.toString('hex') };
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
