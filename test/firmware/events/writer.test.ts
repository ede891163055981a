import { afterEach, describe, expect, it } from "vitest";
import { EventListenerError, EventWriter, type EventWriterOptions } from "../../../firmware/events/writer.ts";
import { EventStoreError } from "../../../firmware/events/store.ts";
import { recentIncidents } from "../../../firmware/events/queries.ts";
import { classify } from "../../../firmware/events/classify.ts";
import { hourOf } from "../../../firmware/events/rollups.ts";
import type { Incident } from "../../../firmware/events/types.ts";
import type { Database } from "../../../firmware/store/database.ts";
import { compileRuleset } from "../../../firmware/ruleset/compile.ts";
import { waitFor } from "../../lab/wait-for.ts";
import { LAN, QueueSource, deviceOf, labMeta, labPolicy, mixedRecords, packet, syslog, tempDatabase, type TempDb } from "./fixtures.ts";
import { countWalCommits } from "./wal.ts";

const meta = labMeta();
const NOW = Date.now();
const dbs: TempDb[] = [];
const writers: EventWriter[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) await w.stop().catch(() => undefined);
  for (const d of dbs.splice(0)) d.close();
});

/** A migrated temp database whose WAL is never checkpointed, so its commits can be counted. */
async function fresh(): Promise<TempDb> {
  const d = await tempDatabase();
  dbs.push(d);
  await d.database.client.execute("PRAGMA wal_autocheckpoint = 0");
  return d;
}

/** Records every client.batch call (statement count) on the way to the real client. */
function spyBatches(database: Database): number[] {
  const calls: number[] = [];
  const client = database.client;
  const real = client.batch.bind(client);
  client.batch = ((stmts: Parameters<typeof real>[0], mode?: Parameters<typeof real>[1]) => {
    calls.push(stmts.length);
    return real(stmts, mode);
  }) as typeof client.batch;
  return calls;
}

function writer(d: TempDb, source: QueueSource, over: Partial<EventWriterOptions> = {}): EventWriter {
  const w = new EventWriter({ database: d.database, source, meta, lan: LAN, pruneEveryMs: 0, ...over });
  writers.push(w);
  return w;
}

const scan = (n: number, from = 0, src = "203.0.113.66") =>
  Array.from({ length: n }, (_, i) => packet("port-scan.banned", { time: NOW + from + i, src, dst: "192.0.2.10", dport: 1 + ((from + i) % 65535) }));
const stored = async (d: TempDb, sql = "SELECT count(*) FROM events") => Number((await d.database.client.execute(sql)).rows[0]![0]);

describe("EventWriter batching", () => {
  it("commits what arrived in each window in exactly one transaction of at most four statements", async () => {
    const d = await fresh();
    const calls = spyBatches(d.database);
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 50 });
    await w.start();
    const base = countWalCommits(d.path);
    for (let round = 1; round <= 5; round++) {
      source.push(...scan(700, round * 1000, `203.0.113.${round}`));
      await waitFor(`round ${round} committed`, () => w.counters().written === round * 700);
      expect(countWalCommits(d.path) - base).toBe(round);
    }
    expect(w.counters()).toMatchObject({ batches: 5, written: 3500, classified: 3500, unclassified: 0 });
    expect(calls).toHaveLength(5);
    expect(Math.max(...calls)).toBeLessThanOrEqual(4);
  });

  it("writes a queue bigger than one batch back to back, one transaction per maxBatch records", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 50, maxBatch: 1000 });
    await w.start();
    const base = countWalCommits(d.path);
    source.push(...scan(3500));
    await waitFor("all committed", () => w.counters().written === 3500);
    expect(countWalCommits(d.path) - base).toBe(4);
    expect(w.counters().batches).toBe(4);
  });

  it("graceful stop commits everything still queued, without waiting for the window", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 60_000, maxBatch: 5000 });
    await w.start();
    source.push(...mixedRecords(20_000, NOW, 3));
    expect(w.counters().written).toBe(0);
    const base = countWalCommits(d.path);
    await w.stop();
    const c = w.counters();
    expect(c.received).toBe(20_000);
    expect(c.classified + c.unclassified).toBe(20_000);
    expect(c.written).toBe(c.classified);
    expect(await stored(d)).toBe(c.classified);
    expect(countWalCommits(d.path) - base).toBe(4);
    // Stopped: nothing more is taken, by the timer or by a late flush.
    source.push(...scan(10));
    await w.flush();
    await w.stop();
    expect(source.items).toHaveLength(10);
  });

  it("counts records that are not events, by reason, and stores none of them", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source);
    await w.start();
    source.push(
      { ...packet("sys-inbound"), prefix: "other:thing:" },
      { ...packet("sys-inbound"), prefix: "sk:gone-rule:" },
      syslog({ peer: "127.0.0.1" }),
      syslog({ peer: "198.51.100.1" }),
      packet("sys-inbound", { time: NOW }),
    );
    await w.stop();
    expect(w.counters()).toMatchObject({
      received: 5, classified: 1, unclassified: 4, written: 1,
      unclassifiedByReason: { "foreign-prefix": 1, "unknown-log-id": 1, "box-syslog": 1, "foreign-syslog": 1 },
    });
    expect(await stored(d)).toBe(1);
  });
});

describe("EventWriter incidents, rollups and listeners", () => {
  it("stores a 10k-packet scan as one incident, and tells listeners after each commit", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 20, maxBatch: 2500 });
    const seen: { changed: Incident[]; events: number; commitsAtCall: number }[] = [];
    w.onIncidents((changed, events) => { seen.push({ changed, events: events.length, commitsAtCall: countWalCommits(d.path) }); });
    await w.start();
    const base = countWalCommits(d.path);
    source.push(...scan(10_000));
    await waitFor("scan committed", () => w.counters().written === 10_000);
    await w.stop();
    expect(seen.map((s) => s.events)).toEqual([2500, 2500, 2500, 2500]);
    // Each call came after its own commit (the WAL already held it).
    expect(seen.map((s) => s.commitsAtCall - base)).toEqual([1, 2, 3, 4]);
    expect(seen.map((s) => s.changed.map((i) => [i.id, i.count]))).toEqual([[[1, 2500]], [[1, 5000]], [[1, 7500]], [[1, 10_000]]]);
    const incs = await recentIncidents(d.database, { limit: 10 });
    expect(incs).toHaveLength(1);
    expect(incs[0]).toMatchObject({ id: 1, key: "scan|203.0.113.66", count: 10_000, portCount: 10_000, category: "inbound" });
    expect(incs[0]!.ports).toHaveLength(64);
  });

  it("keeps rollups exact: per hour and category, rollup counts equal stored events", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { maxBatch: 3000 });
    await w.start();
    // 30k records spread over 5 hours, so batches straddle hour boundaries.
    const records = mixedRecords(30_000, NOW, 11).map((r, i) => ({ ...r, time: NOW - 5 * 3_600_000 + i * 600 }));
    source.push(...records);
    await w.stop();
    const q = async (sql: string) => new Map((await d.database.client.execute(sql)).rows.map((r) => [`${r[0]}|${r[1]}`, Number(r[2])]));
    const fromEvents = await q("SELECT (time / 3600000) * 3600000 AS h, category, count(*) FROM events GROUP BY h, category");
    const fromRollups = await q("SELECT hour, category, sum(count) FROM event_rollups GROUP BY hour, category");
    expect(fromRollups).toEqual(fromEvents);
    // And both agree with classifying the records here.
    const want = new Map<string, number>();
    const codes = { inbound: 1, c2: 2, web: 3, malware: 4, endpoint: 5 } as const;
    for (const r of records) {
      const e = classify(r, meta, LAN);
      if (!e) continue;
      const k = `${hourOf(e.time)}|${codes[e.category]}`;
      want.set(k, (want.get(k) ?? 0) + 1);
    }
    expect(fromEvents).toEqual(want);
    expect(fromEvents.size).toBeGreaterThanOrEqual(5 * 3);
  });

  it("survives a throwing or rejecting listener, and reports it", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const errors: Error[] = [];
    const w = writer(d, source, { onError: (e) => errors.push(e) });
    w.onIncidents(() => { throw new Error("boom"); });
    w.onIncidents(async () => { throw new Error("async boom"); });
    let calls = 0;
    const off = w.onIncidents(() => { calls++; });
    await w.start();
    source.push(...scan(10));
    await w.flush();
    off();
    source.push(...scan(10, 10));
    await w.flush();
    await waitFor("rejections reported", () => errors.length === 4);
    expect(errors.every((e) => e instanceof EventListenerError)).toBe(true);
    expect(errors.map((e) => (e.cause as Error).message).sort()).toEqual(["async boom", "async boom", "boom", "boom"]);
    expect(calls).toBe(1);
    expect(w.counters()).toMatchObject({ written: 20, listenerErrors: 4 });
  });

  it("continues incident ids after a restart", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w1 = writer(d, source);
    await w1.start();
    source.push(...scan(3, 0, "203.0.113.1"), ...scan(3, 0, "203.0.113.2"));
    await w1.stop();
    const w2 = writer(d, source);
    await w2.start();
    source.push(...scan(3, 0, "203.0.113.3"));
    await w2.stop();
    expect((await recentIncidents(d.database, { limit: 10 })).map((i) => i.id).sort()).toEqual([1, 2, 3]);
  });

  it("classifies by the new ruleset after setMeta", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source);
    await w.start();
    const policy = labPolicy();
    policy.outbound.block.push({ id: "out-new", protocol: "tcp", ports: [1234], reason: { ja: "テスト", en: "test" } });
    source.push(packet("out-new", { src: "192.0.2.10", dst: "198.51.100.1" }));
    await w.flush();
    w.setMeta(compileRuleset(policy, deviceOf("bridge")).meta);
    source.push(packet("out-new", { src: "192.0.2.10", dst: "198.51.100.1" }));
    await w.stop();
    expect(w.counters()).toMatchObject({ classified: 1, unclassified: 1, written: 1 });
  });
});

describe("EventWriter failures and retention", () => {
  it("keeps a batch the store refused and commits it once the store is back, taking nothing new meanwhile", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const errors: Error[] = [];
    const w = writer(d, source, { batchWindowMs: 20, maxBatch: 100, onError: (e) => errors.push(e) });
    await w.start();
    await d.database.client.execute("ALTER TABLE events RENAME TO events_away");
    source.push(...scan(250));
    await waitFor("a refused write", () => errors.length >= 2);
    expect(errors[0]).toBeInstanceOf(EventStoreError);
    expect(w.counters()).toMatchObject({ written: 0, pending: 100 });
    expect(source.items).toHaveLength(150); // back-pressure: the rest waits in the source
    await d.database.client.execute("ALTER TABLE events_away RENAME TO events");
    await waitFor("everything committed", () => w.counters().written === 250);
    expect(await stored(d)).toBe(250);
    expect(Number((await d.database.client.execute("SELECT sum(count) FROM event_rollups")).rows[0]![0])).toBe(250);
    expect(w.counters().writeErrors).toBeGreaterThanOrEqual(2);
  });

  it("stop() commits a batch a failed flush kept, and everything queued behind it", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 60_000, maxBatch: 100 });
    await w.start();
    await d.database.client.execute("ALTER TABLE events RENAME TO events_away");
    source.push(...scan(250));
    await expect(w.flush()).rejects.toBeInstanceOf(EventStoreError);
    expect(w.counters()).toMatchObject({ pending: 100, written: 0 });
    expect(source.items).toHaveLength(150);
    await d.database.client.execute("ALTER TABLE events_away RENAME TO events");
    await w.stop();
    expect(await stored(d)).toBe(250);
    expect(w.counters()).toMatchObject({ written: 250, pending: 0, batches: 3 });
  });

  it("stop() reports the events it could not commit instead of hanging or dropping them silently", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w = writer(d, source, { batchWindowMs: 60_000, onError: () => undefined });
    await w.start();
    await d.database.client.execute("ALTER TABLE events RENAME TO events_away");
    source.push(...scan(10));
    await expect(w.stop()).rejects.toThrow(/stopped with 10 events it could not commit/);
  });

  it("prunes old events in small steps between batches", async () => {
    const d = await fresh();
    const source = new QueueSource();
    const w1 = writer(d, source);
    await w1.start();
    source.push(...Array.from({ length: 3000 }, (_, i) => packet("sys-inbound", { time: NOW - 40 * 86_400_000 + i })));
    source.push(...scan(500));
    await w1.stop();
    expect(await stored(d)).toBe(3500);
    const w2 = writer(d, source, { pruneEveryMs: 3_600_000, retention: { maxAgeDays: 30, chunkRows: 1000 }, batchWindowMs: 10, clock: () => NOW });
    await w2.start();
    await waitFor("old events pruned", () => w2.counters().pruned.eventsByAge === 3000);
    expect(w2.counters().pruneSteps).toBeGreaterThanOrEqual(3); // at most 1000 rows per step
    expect(await stored(d)).toBe(500);
    expect(Number((await d.database.client.execute("SELECT sum(count) FROM event_rollups")).rows[0]![0])).toBe(3500);
  });
});
