import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TcpFrames } from "../../../firmware/dns/tcp-frames.ts";

const frame = (m: Uint8Array) => {
  const out = new Uint8Array(m.length + 2);
  out[0] = m.length >>> 8;
  out[1] = m.length & 255;
  out.set(m, 2);
  return out;
};

/** The parts one after another (the tests run under Node). */
const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("DNS over TCP framing", () => {
  it("gives back exactly the messages sent, however the stream is cut into chunks", () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ maxLength: 600 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
      (messages, cuts) => {
        const stream = concat(messages.map(frame));
        const frames = new TcpFrames();
        const got: Uint8Array[] = [];
        let at = 0;
        for (let i = 0; at < stream.length; i++) {
          const n = cuts[i % cuts.length]!;
          frames.push(stream.subarray(at, at + n));
          at += n;
          for (let m = frames.next(); m !== undefined; m = frames.next()) got.push(m);
        }
        expect(got).toEqual(messages);
        expect(frames.buffered).toBe(0);
      },
    ));
  });

  it("holds a message until its last byte, and keeps what follows it", () => {
    const frames = new TcpFrames();
    const a = frame(new Uint8Array([1, 2, 3]));
    const b = frame(new Uint8Array([9]));
    frames.push(a.subarray(0, 1));
    expect(frames.next()).toBeUndefined();
    frames.push(a.subarray(1, 4));
    expect(frames.next()).toBeUndefined();
    expect(frames.buffered).toBe(4);
    frames.push(concat([a.subarray(4), b.subarray(0, 2)]));
    expect(frames.next()).toEqual(new Uint8Array([1, 2, 3]));
    expect(frames.next()).toBeUndefined();
    expect(frames.buffered).toBe(2);
    frames.push(b.subarray(2));
    expect(frames.next()).toEqual(new Uint8Array([9]));
    expect(frames.buffered).toBe(0);
  });

  it("takes a 64 KiB message sent a byte at a time", () => {
    const message = new Uint8Array(65_535).map((_, i) => i & 255);
    const stream = concat([frame(message), frame(new Uint8Array([7]))]);
    const frames = new TcpFrames();
    const got: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) {
      frames.push(stream.subarray(i, i + 1));
      for (let m = frames.next(); m !== undefined; m = frames.next()) got.push(m);
    }
    expect(got).toEqual([message, new Uint8Array([7])]);
    expect(frames.buffered).toBe(0);
  });
});
