import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../../firmware/logs/bounded-queue.ts";

describe("BoundedQueue", () => {
  it("is FIFO and refuses when full", () => {
    const q = new BoundedQueue<number>(3);
    expect([q.push(1), q.push(2), q.push(3), q.push(4)]).toEqual([true, true, true, false]);
    expect(q.size).toBe(3);
    expect(q.take(2)).toEqual([1, 2]);
    expect(q.push(5)).toBe(true);
    expect(q.take()).toEqual([3, 5]);
    expect(q.take()).toEqual([]);
  });

  it("take with 0, negative or NaN takes nothing", () => {
    const q = new BoundedQueue<number>(2);
    q.push(1);
    expect(q.take(0)).toEqual([]);
    expect(q.take(-1)).toEqual([]);
    expect(q.take(Number.NaN)).toEqual([]);
    expect(q.size).toBe(1);
  });

  it("rejects a capacity that is not a positive integer", () => {
    for (const c of [0, -1, 1.5, Number.NaN]) expect(() => new BoundedQueue(c)).toThrow(RangeError);
  });

  it("property: behaves as a bounded array model over any sequence of pushes and takes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.record({ push: fc.integer() }), fc.record({ take: fc.integer({ min: 0, max: 10 }) })), { maxLength: 100 }),
        (capacity, ops) => {
          const q = new BoundedQueue<number>(capacity);
          const model: number[] = [];
          for (const op of ops) {
            if ("push" in op) {
              const accepted = model.length < capacity;
              if (accepted) model.push(op.push);
              expect(q.push(op.push)).toBe(accepted);
            } else {
              expect(q.take(op.take)).toEqual(model.splice(0, op.take));
            }
            expect(q.size).toBe(model.length);
          }
        },
      ),
    );
  });
});
