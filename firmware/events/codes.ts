/**
 * Small integer codes for the enumerations stored in every event row. A raw event row is
 * written tens of thousands of times a second and kept by the million on an SD card: codes
 * instead of words make rows about a third smaller and inserts faster (README "Storage").
 * The codes are part of the file format: never renumber, only append.
 */
import type { Category, Direction, EventAction, EventKind, Severity } from "./types.ts";

/** A fixed two-way mapping between names and stored codes. */
export type Codec<T extends string> = {
  readonly codes: Readonly<Record<T, number>>;
  encode(value: T): number;
  /** The name of a stored code; throws StoredValueError for a code this version does not know. */
  decode(code: number): T;
};

/** A stored value this version of the firmware cannot read (a newer firmware wrote it, or damage). */
export class StoredValueError extends Error {
  override name = "StoredValueError";
}

function codec<T extends string>(what: string, codes: Record<T, number>): Codec<T> {
  const names = new Map<number, T>();
  for (const [name, code] of Object.entries(codes) as [T, number][]) names.set(code, name);
  return {
    codes,
    encode: (value) => codes[value],
    decode: (code) => {
      const name = names.get(code);
      if (name === undefined) throw new StoredValueError(`unknown ${what} code ${code} in the event store`);
      return name;
    },
  };
}

export const CATEGORY = codec<Category>("category", { inbound: 1, c2: 2, web: 3, malware: 4, endpoint: 5 });
/** Ordered, so "at least medium" is `severity >= 2`. */
export const SEVERITY = codec<Severity>("severity", { low: 1, medium: 2, high: 3 });
export const KIND = codec<EventKind>("kind", {
  scan: 1, "brute-force": 2, blocklist: 3, "outbound-port": 4, allowed: 5, endpoint: 6, other: 7,
});
export const DIRECTION = codec<Direction>("direction", { inbound: 1, outbound: 2 });
export const ACTION = codec<EventAction>("action", { drop: 1, ban: 2, accept: 3, log: 4 });

/** What kind of rule, which direction, what it did: stored packed in one column of each event. */
export type EventClass = { kind: EventKind; direction: Direction; action: EventAction };

/**
 * Packs an event's class into one integer: kind + 16 × direction + 64 × action. One column
 * instead of three: SQLite's cost per inserted row grows with the number of columns, and
 * nobody filters raw events by these (README "Measurements").
 */
export function encodeClass(c: EventClass): number {
  return KIND.encode(c.kind) + 16 * DIRECTION.encode(c.direction) + 64 * ACTION.encode(c.action);
}

export function decodeClass(code: number): EventClass {
  return { kind: KIND.decode(code % 16), direction: DIRECTION.decode(Math.floor(code / 16) % 4), action: ACTION.decode(Math.floor(code / 64)) };
}
