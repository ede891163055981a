/**
 * Counts the transactions committed to a SQLite database by reading its write-ahead log
 * directly (https://www.sqlite.org/fileformat.html, "The WAL File Format"): every commit ends
 * with a frame whose "database size after commit" field is non-zero. Frames belong to the
 * current log only when their salts match the header's. An independent witness of how many
 * transactions the writer made, whatever the writer's own counters say. Checkpoints restart
 * the log: tests that count turn automatic checkpoints off.
 */
import { readFileSync } from "node:fs";

export function countWalCommits(dbPath: string): number {
  let buf: Buffer;
  try {
    buf = readFileSync(`${dbPath}-wal`);
  } catch {
    return 0;
  }
  if (buf.length < 32) return 0;
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) throw new Error(`not a WAL file: magic ${magic.toString(16)}`);
  const pageSize = buf.readUInt32BE(8);
  const salt1 = buf.readUInt32BE(16);
  const salt2 = buf.readUInt32BE(20);
  let commits = 0;
  for (let off = 32; off + 24 + pageSize <= buf.length; off += 24 + pageSize) {
    if (buf.readUInt32BE(off + 8) !== salt1 || buf.readUInt32BE(off + 12) !== salt2) break;
    if (buf.readUInt32BE(off + 4) !== 0) commits++;
  }
  return commits;
}
