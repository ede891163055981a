/**
 * The answer cache: upstream answers by question (name case-insensitively, type, class, and
 * the DO and CD bits, which change what an upstream returns), kept for their TTL (RFC 1035)
 * or their negative TTL (RFC 2308), bounded in entries. Pure data structure with the clock
 * passed in; the key is the name fingerprint the matcher computed anyway, and every hit is
 * confirmed byte by byte, so a fingerprint collision is a miss, never a wrong answer.
 */
import { HEADER, type Query, type UpstreamAnswer } from "./codec.ts";

export type CacheOptions = {
  /** Entries kept (oldest inserted leave first). */
  maxEntries: number;
  /** Longest time an answer is kept, whatever its TTL (s). */
  maxTtl: number;
  /** Longest time a negative answer (NXDOMAIN, NODATA) is kept (s). */
  maxNegativeTtl: number;
};

export const DEFAULT_CACHE_OPTIONS: CacheOptions = { maxEntries: 10_000, maxTtl: 86_400, maxNegativeTtl: 3_600 };

type Entry = {
  /** The question section, lower-cased, for the byte-by-byte check. */
  question: Uint8Array;
  bits: number;
  answer: UpstreamAnswer;
  storedAt: number;
  expiresAt: number;
};

export type CacheHit = { answer: UpstreamAnswer; ageSeconds: number };

/** The cache key's extra bits: DO and CD. */
export function queryBits(q: Query): number {
  return (q.edns?.do ? 1 : 0) | (q.cd ? 2 : 0);
}

function cacheKey(hi: number, lo: number, qtype: number, bits: number): number {
  // 53 bits: 32 from the name's high word mixed with the type and bits, 21 from its low word.
  const mixed = (hi ^ Math.imul((qtype << 2) | bits, 0x9e3779b1)) >>> 0;
  return mixed * 0x200000 + (lo & 0x1fffff);
}

function sameQuestion(stored: Uint8Array, q: Query): boolean {
  const len = q.questionEnd - HEADER;
  if (stored.length !== len) return false;
  const b = q.buf;
  for (let i = 0; i < len; i++) {
    let c = b[HEADER + i] ?? 0;
    if (c >= 65 && c <= 90) c |= 32;
    if (c !== stored[i]) return false;
  }
  return true;
}

export class DnsCache {
  private readonly entries = new Map<number, Entry>();
  hits = 0;
  misses = 0;

  constructor(private readonly options: CacheOptions = DEFAULT_CACHE_OPTIONS) {}

  get size(): number {
    return this.entries.size;
  }

  /**
   * The cached answer to `q` (name fingerprint hi/lo from the matcher), with its age in
   * whole seconds; undefined when absent or expired (an expired entry is removed).
   */
  get(q: Query, hi: number, lo: number, nowMs: number): CacheHit | undefined {
    const bits = queryBits(q);
    const key = cacheKey(hi, lo, q.qtype, bits);
    const e = this.entries.get(key);
    if (!e || e.bits !== bits || !sameQuestion(e.question, q)) {
      this.misses++;
      return undefined;
    }
    if (nowMs >= e.expiresAt) {
      this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    return { answer: e.answer, ageSeconds: Math.floor((nowMs - e.storedAt) / 1000) };
  }

  /** Keeps `answer` for `q` if it is cacheable (has a TTL, not truncated); true when kept. */
  set(q: Query, hi: number, lo: number, answer: UpstreamAnswer, nowMs: number): boolean {
    if (answer.cacheTtl === undefined || answer.truncated) return false;
    const negative = answer.rcode !== 0 || (((answer.message[6] ?? 0) << 8) | (answer.message[7] ?? 0)) === 0;
    const ttl = Math.min(answer.cacheTtl, negative ? this.options.maxNegativeTtl : this.options.maxTtl);
    if (!(ttl > 0)) return false;
    const bits = queryBits(q);
    const key = cacheKey(hi, lo, q.qtype, bits);
    const question = q.buf.slice(HEADER, q.questionEnd);
    for (let i = 0; i < question.length; i++) {
      const c = question[i] ?? 0;
      if (c >= 65 && c <= 90) question[i] = c | 32;
    }
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) this.evict();
    this.entries.set(key, { question, bits, answer, storedAt: nowMs, expiresAt: nowMs + ttl * 1000 });
    return true;
  }

  /**
   * Drops the oldest sixteenth in one pass. One at a time would cost a scan over the holes
   * that earlier deletions leave at the front of the Map, on every insert.
   */
  private evict(): void {
    let n = Math.max(1, Math.ceil(this.options.maxEntries / 16));
    for (const key of this.entries.keys()) {
      this.entries.delete(key);
      if (--n === 0) break;
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
