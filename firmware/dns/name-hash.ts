/**
 * The 64-bit name fingerprint the matcher and the cache key on. It is defined over wire
 * labels taken right to left (TLD first), each as its length byte then its bytes folded to
 * lower case, so the state after k labels is the fingerprint of the k-label suffix: a name
 * with n labels yields all n suffix fingerprints in one pass over its bytes, and a lookup of
 * every suffix costs one table probe each, with nothing allocated.
 *
 * Two 32-bit lanes (FNV-1a and a multiply-xorshift lane with different constants), each
 * finished with murmur3's fmix32 crossed with the other lane. The text form (a list line)
 * and the wire form (a packet) feed the same bytes, so they hash the same.
 *
 * State lives in a caller-owned Uint32Array of length 4: [laneA, laneB, fingerprintHi,
 * fingerprintLo]; the functions write into it and return nothing, which keeps the hot path
 * free of allocation.
 */

export const HASH_STATE_SIZE = 4;

const SEED_A = 0x811c9dc5;
const SEED_B = 0x9747b28c;

/** A fresh hash state buffer. */
export function newHashState(): Uint32Array {
  const s = new Uint32Array(HASH_STATE_SIZE);
  resetHash(s);
  return s;
}

/** Back to the empty name (the root). */
export function resetHash(s: Uint32Array): void {
  s[0] = SEED_A;
  s[1] = SEED_B;
  s[2] = 0;
  s[3] = 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Writes the fingerprint of the suffix hashed so far into s[2], s[3]; s[2] is never 0. */
function finish(s: Uint32Array, a: number, b: number): void {
  s[0] = a;
  s[1] = b;
  const hi = fmix32((a + Math.imul(b, 0x27d4eb2d)) | 0);
  s[2] = hi === 0 ? 1 : hi;
  s[3] = fmix32(b ^ Math.imul(a, 0x165667b1));
}

/** Feeds one wire label (at `off`: its length byte, then the bytes) into the state. */
export function hashWireLabel(s: Uint32Array, buf: Uint8Array, off: number): void {
  let a = s[0] ?? 0;
  let b = s[1] ?? 0;
  const len = buf[off] ?? 0;
  a = Math.imul(a ^ len, 0x01000193);
  b = Math.imul(b ^ len, 0x5bd1e995);
  b ^= b >>> 13;
  for (let i = off + 1, end = off + 1 + len; i < end; i++) {
    let c = buf[i] ?? 0;
    if (c >= 65 && c <= 90) c |= 32;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  finish(s, a, b);
}

/**
 * Feeds the text label text[start, end) (no dots inside) into the state, as if it were the
 * wire label of the same bytes. Only for ASCII text (callers normalise first).
 */
export function hashTextLabel(s: Uint32Array, text: string, start: number, end: number): void {
  let a = s[0] ?? 0;
  let b = s[1] ?? 0;
  const len = end - start;
  a = Math.imul(a ^ len, 0x01000193);
  b = Math.imul(b ^ len, 0x5bd1e995);
  b ^= b >>> 13;
  for (let i = start; i < end; i++) {
    let c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 32;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  finish(s, a, b);
}

/**
 * Hashes the whole text name text[start, end) (labels separated by ".", no trailing dot)
 * right to left; the fingerprint of the full name ends in s[2], s[3].
 */
export function hashTextName(s: Uint32Array, text: string, start: number, end: number): void {
  resetHash(s);
  let labelEnd = end;
  for (let i = end - 1; i >= start - 1; i--) {
    if (i < start || text.charCodeAt(i) === 46) {
      hashTextLabel(s, text, i + 1, labelEnd);
      labelEnd = i;
    }
  }
}

/**
 * `hashTextName` for a name whose dots the caller already knows (the list parser found them
 * on its one pass over the line): dots[0..dotCount) are the positions of the dots in
 * text[start, end), ascending.
 */
export function hashTextNameDots(s: Uint32Array, text: string, start: number, end: number, dots: Int32Array, dotCount: number): void {
  resetHash(s);
  let labelEnd = end;
  for (let k = dotCount - 1; k >= 0; k--) {
    const d = dots[k] ?? start;
    hashTextLabel(s, text, d + 1, labelEnd);
    labelEnd = d;
  }
  hashTextLabel(s, text, start, labelEnd);
}
