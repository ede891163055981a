import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatIpv6, parseIpv6 } from "../../../policies/net.ts";
import { isIpv6 } from "../../../firmware/logs/ulogd-json.ts";

describe("isIpv6 (the packet parser's check, without a bigint)", () => {
  it.each(["::", "::1", "2001:db8::1", "2001:db8:2::10", "fe80::1:2:3:4", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "64:ff9b::192.0.2.1", "1:2:3:4:5:6:192.0.2.1", "1::"])(
    "accepts %s",
    (a) => expect(isIpv6(a)).toBe(true),
  );
  it.each(["", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1", "1:2:3:4:5:6:7:192.0.2.1", "::192.0.2.1:1", "192.0.2.1", "2001:db8::1%eth0", " ::1"])(
    "refuses %j",
    (a) => expect(isIpv6(a)).toBe(false),
  );
  it("property: agrees with policies/net.ts parseIpv6 on formatted and mangled addresses", () => {
    const addr = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map(formatIpv6);
    const mangled = fc.tuple(addr, fc.nat(), fc.constantFrom(":", "::", "x", "1", ".", "0.0.0.0", "")).map(([a, at, ins]) => {
      const i = at % (a.length + 1);
      return a.slice(0, i) + ins + a.slice(i);
    });
    fc.assert(
      fc.property(fc.oneof(addr, mangled, fc.string({ maxLength: 45 })), (a) => {
        expect(isIpv6(a)).toBe(parseIpv6(a) !== undefined);
      }),
      { numRuns: 2000 },
    );
  });
});
