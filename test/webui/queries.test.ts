import { afterEach, describe, expect, it } from "vitest";
import type { BoxEvent } from "../../firmware/events/types.ts";
import { bucketSeries, SettledSeries } from "../../webui/queries.ts";
import { createFixture, T0, type Fixture } from "./fixture.ts";

const HOUR = 3_600_000;
const scan = (time: number): BoxEvent => ({
  time, category: "inbound", severity: "low", kind: "scan", logId: "sys-inbound", ruleId: "sys-inbound",
  direction: "inbound", action: "drop", lanIp: "192.0.2.40", remoteIp: "203.0.113.7", proto: "tcp", port: 22,
});

describe("SettledSeries (the dashboard's week)", () => {
  let f: Fixture | undefined;
  afterEach(() => { f?.close(); f = undefined; });

  it("gives exactly bucketSeries' buckets, and sees new events in the recent hours at once", async () => {
    f = await createFixture();
    const hour = Math.floor(T0 / HOUR) * HOUR;
    const from = hour - 167 * HOUR;
    const to = hour + HOUR;
    await f.writeEvents([scan(from + 5), scan(hour - 50 * HOUR), scan(hour - 3 * HOUR), scan(T0 - 1000)]);
    const series = new SettledSeries();
    const full = await bucketSeries(f.database, from, to, HOUR);
    expect(await series.read(f.database, from, to, HOUR, T0)).toEqual(full);
    expect(full.reduce((s, b) => s + b.counts.inbound, 0)).toBe(4);
    // A new event in the current hour shows on the next read (the recent part is read every time).
    await f.writeEvents([scan(T0 - 500)]);
    const again = await series.read(f.database, from, to, HOUR, T0 + 1000);
    expect(again).toEqual(await bucketSeries(f.database, from, to, HOUR));
    expect(again.reduce((s, b) => s + b.counts.inbound, 0)).toBe(5);
    // Settled hours are kept: a (never expected) late write into one shows only after KEEP_MS.
    await f.writeEvents([scan(hour - 50 * HOUR + 10)]);
    expect((await series.read(f.database, from, to, HOUR, T0 + 2000)).reduce((s, b) => s + b.counts.inbound, 0)).toBe(5);
    expect((await series.read(f.database, from, to, HOUR, T0 + SettledSeries.KEEP_MS + 3000)).reduce((s, b) => s + b.counts.inbound, 0)).toBe(6);
  });
});
