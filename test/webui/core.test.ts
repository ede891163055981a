/**
 * The admin page's pure parts and its store: password generation and hashing, the first-start
 * password, the lockout schedule, JST and number formatting, the catalogues, and the event
 * search (results, bounded windows, and query plans that use the indexes).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { RollupAccumulator } from "../../firmware/events/rollups.ts";
import { applyEventMigrations, writeStoreBatch } from "../../firmware/events/store.ts";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { applyAlertMigrations } from "../../firmware/alerts/store.ts";
import { closeDatabase, openDatabase, type Database } from "../../firmware/store/database.ts";
import {
  checkAdminPassword, ensureAdminPassword, generatePassword, hashPassword, PASSWORD_ALPHABET, verifyPassword,
} from "../../webui/auth/password.ts";
import { DEFAULT_RATE_LIMIT, lockoutMs } from "../../webui/auth/rate-limit.ts";
import { en } from "../../webui/i18n/en.ts";
import { formatBytes, formatNumber, formatTime, fromDateTimeLocal, startOfJstDay, toDateTimeLocal } from "../../webui/i18n/index.ts";
import { ja } from "../../webui/i18n/ja.ts";
import { bucketSeries, eventPage, eventPageStatements, type EventFilter } from "../../webui/queries.ts";
import { applyWebuiMigrations } from "../../webui/store.ts";
import { TEST_COST } from "./fixture.ts";

const dirs: string[] = [];
const dbs: Database[] = [];
afterEach(() => {
  for (const d of dbs.splice(0)) closeDatabase(d);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function freshDb(): Promise<Database> {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-webui-core-"));
  dirs.push(dir);
  const db = await openDatabase(join(dir, "sekisho.db"));
  dbs.push(db);
  await applyEventMigrations(db);
  await applyAlertMigrations(db);
  await applyWebuiMigrations(db);
  return db;
}

describe("admin password", () => {
  it("is four groups of four from an unambiguous alphabet", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassword();
      expect(p).toMatch(new RegExp(`^[${PASSWORD_ALPHABET}]{4}(-[${PASSWORD_ALPHABET}]{4}){3}$`));
      expect(p).not.toMatch(/[01ilo]/);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });

  it("is generated once at first start, returned once, and stored only as an scrypt record (N = 2^15 by default)", async () => {
    const db = await freshDb();
    const first = await ensureAdminPassword(db);
    expect(first).toBeDefined();
    expect(await ensureAdminPassword(db)).toBeUndefined();
    await applyWebuiMigrations(db);
    expect(await ensureAdminPassword(db)).toBeUndefined();
    const rows = (await db.client.execute("SELECT hash FROM webui_admin")).rows;
    expect(rows).toHaveLength(1);
    const record = String(rows[0]![0]);
    expect(record).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(record).not.toContain(first!);
    expect(await checkAdminPassword(db, first!)).toBe(true);
    expect(await checkAdminPassword(db, `${first!}x`)).toBe(false);
  });

  it("keeps the password (the label) before its hash: a failed keep stores nothing, and the label's password is reused", async () => {
    const db = await freshDb();
    await expect(ensureAdminPassword(db, { cost: TEST_COST, keep: async () => { throw new Error("disk full"); } })).rejects.toThrow("disk full");
    expect((await db.client.execute("SELECT count(*) FROM webui_admin")).rows[0]![0]).toBe(0);
    // The start after a crash between label and hash: the label's password becomes the password.
    const kept: string[] = [];
    const made = await ensureAdminPassword(db, { cost: TEST_COST, reuse: "abcd-efgh-jkmn-pqrs", keep: async (p) => { kept.push(p); } });
    expect(made).toBe("abcd-efgh-jkmn-pqrs");
    expect(kept).toEqual(["abcd-efgh-jkmn-pqrs"]);
    expect(await checkAdminPassword(db, "abcd-efgh-jkmn-pqrs")).toBe(true);
  });

  it("hashes with a random salt; verifies only the right password; refuses malformed records", async () => {
    const a = await hashPassword("correct horse", TEST_COST);
    const b = await hashPassword("correct horse", TEST_COST);
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse", a)).toBe(true);
    expect(await verifyPassword("correct horsf", a)).toBe(false);
    for (const bad of ["", "scrypt$", "md5$1$2$3$4$5", a.replace(/\$[^$]+$/, "$short"), "scrypt$99999999$8$1$AAAA$" + "A".repeat(43)]) {
      expect(await verifyPassword("correct horse", bad)).toBe(false);
    }
  });
});

describe("login lockout schedule", () => {
  it("is free for a few failures, then doubles from 30 s up to an hour", () => {
    expect([1, 2, 3, 4].map((n) => lockoutMs(n))).toEqual([0, 0, 0, 0]);
    expect([5, 6, 7, 8].map((n) => lockoutMs(n))).toEqual([30_000, 60_000, 120_000, 240_000]);
    expect(lockoutMs(1000)).toBe(DEFAULT_RATE_LIMIT.maxLockMs);
    fc.assert(fc.property(fc.integer({ min: 1, max: 10_000 }), (n) => lockoutMs(n + 1) >= lockoutMs(n) && lockoutMs(n) <= 15 * 60_000));
  });
});

describe("i18n", () => {
  it("English has every key Japanese has, and no value is empty", () => {
    const keys = (o: object, prefix = ""): string[] => Object.entries(o).flatMap(([k, v]) =>
      v !== null && typeof v === "object" && !Array.isArray(v) ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`]);
    expect(keys(en).sort()).toEqual(keys(ja).sort());
    for (const cat of [ja, en]) {
      const walk = (o: unknown): void => {
        if (typeof o === "string") expect(o.length).toBeGreaterThan(0);
        else if (Array.isArray(o)) o.forEach(walk);
        else if (o !== null && typeof o === "object") Object.values(o).forEach(walk);
      };
      walk(cat);
    }
  });

  it("shows times in JST and reads datetime-local as JST; numbers are grouped", () => {
    const t = Date.UTC(2026, 10, 23, 15, 30, 5); // 00:30:05 on the 24th in Tokyo
    expect(formatTime(t)).toBe("2026-11-24 00:30:05");
    expect(toDateTimeLocal(t)).toBe("2026-11-24T00:30");
    expect(fromDateTimeLocal("2026-11-24T00:30")).toBe(Date.UTC(2026, 10, 23, 15, 30));
    expect(fromDateTimeLocal("2026-02-31T00:00")).toBeUndefined();
    expect(fromDateTimeLocal("2026-11-24 00:30")).toBeUndefined();
    expect(startOfJstDay(t)).toBe(Date.UTC(2026, 10, 23, 15, 0));
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
      const minute = Math.floor(ms / 60_000) * 60_000;
      return fromDateTimeLocal(toDateTimeLocal(ms)) === minute;
    }));
    expect(formatNumber(1234567, "ja")).toBe("1,234,567");
    expect(formatNumber(1234567, "en")).toBe("1,234,567");
    expect(formatBytes(12_345_678, "en")).toBe("12.3 MB");
  });
});

describe("event search", () => {
  const T = Date.UTC(2026, 10, 23, 5, 0, 0);
  const ev = (i: number, over: Partial<BoxEvent> = {}): BoxEvent => ({
    time: T - i * 1000, category: "inbound", severity: "low", kind: "scan", logId: "sys-inbound", ruleId: "sys-inbound",
    direction: "inbound", action: "drop", lanIp: "192.0.2.40", remoteIp: "203.0.113.7", proto: "tcp", port: 22, ...over,
  });

  async function seeded(n: number, special: Map<number, Partial<BoxEvent>>): Promise<Database> {
    const db = await freshDb();
    const events: BoxEvent[] = [];
    for (let i = 0; i < n; i++) events.push(ev(i, special.get(i) ?? {}));
    const acc = new RollupAccumulator();
    for (const e of events) acc.add(e);
    await writeStoreBatch(db, { events, opened: [], updated: [], rollups: acc.takeDeltas() });
    return db;
  }

  it("a filter without an index looks through bounded windows and still finds every match, in order", async () => {
    const special = new Map<number, Partial<BoxEvent>>([[5, { remoteIp: "198.51.100.1" }], [950, { remoteIp: "198.51.100.1" }], [1999, { remoteIp: "198.51.100.1" }]]);
    const db = await seeded(2000, special);
    const filter: EventFilter = { remoteIp: "198.51.100.1" };
    const found: number[] = [];
    let cursor;
    let pages = 0;
    do {
      const p = await eventPage(db, filter, cursor, 10, 300);
      expect(p.windowed).toBe(true);
      found.push(...p.events.map((e) => e.time));
      cursor = p.next;
      pages++;
    } while (cursor && pages < 50);
    expect(found).toEqual([T - 5000, T - 950_000, T - 1_999_000]);
    expect(pages).toBe(7); // ceil(2000 / 300) windows
  });

  it("indexed filters page on (time, id) without repeats or gaps, also across equal times", async () => {
    const special = new Map<number, Partial<BoxEvent>>();
    for (let i = 0; i < 50; i++) special.set(i, { time: T, category: i % 2 === 0 ? "inbound" : "c2" });
    const db = await seeded(120, special);
    const ids: number[] = [];
    let cursor;
    do {
      const p = await eventPage(db, { category: "inbound" }, cursor, 7);
      ids.push(...p.events.map((e) => e.id));
      cursor = p.next;
    } while (cursor);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(120 - 25);
  });

  it("every event query walks an index, never the whole table", async () => {
    const db = await freshDb();
    const filters: EventFilter[] = [
      {}, { category: "c2" }, { lanIp: "192.0.2.10" }, { from: T - 3_600_000, to: T },
      { category: "web", from: T - 3_600_000 }, { remoteIp: "203.0.113.7" }, { port: 22, domain: "x.example" },
    ];
    for (const f of filters) {
      const q = eventPageStatements(f, { time: T, id: 5 }, 50);
      for (const s of [q.page, q.windowEdge].filter((x) => x !== undefined)) {
        const plan = (await db.client.execute({ sql: `EXPLAIN QUERY PLAN ${s.sql}`, args: s.args })).rows.map((r) => String(r[3])).join(" | ");
        // A range search on an index (the cursor bounds it), never a scan of events, even along an index.
        expect(plan, JSON.stringify(f)).toMatch(/SEARCH events USING (COVERING )?INDEX events_/);
        expect(plan, JSON.stringify(f)).not.toMatch(/SCAN events\b/);
      }
    }
  });

  it("chart buckets sum rollups by hour or JST day, with empty buckets present", async () => {
    const db = await seeded(10, new Map([[9, { time: T - 3 * 86_400_000 }]]));
    const day = 86_400_000;
    const from = startOfJstDay(T) - 6 * day;
    const days = await bucketSeries(db, from, startOfJstDay(T) + day, day);
    expect(days).toHaveLength(7);
    expect(days.map((d) => d.counts.inbound)).toEqual([0, 0, 0, 1, 0, 0, 9]);
  });
});
