import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseDhcp, type DhcpMessage } from "../../../firmware/inventory/dhcp.ts";
import { decodeCaptured, type UdpPacket } from "../../../firmware/inventory/packet.ts";
import { dhcpExchange } from "./fixtures.ts";

/** The DHCP payloads of the captured exchange, in order. */
function payloads(): Uint8Array[] {
  const { header, records } = dhcpExchange();
  return records.map((r) => {
    const p = decodeCaptured(r.data, header.linkType);
    if (!p.ok || p.value.kind !== "udp") throw new Error(`record is not UDP: ${p.ok ? p.value.kind : p.error}`);
    return p.value.payload;
  });
}

function parsed(bytes: Uint8Array): DhcpMessage {
  const r = parseDhcp(bytes);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

/** Replaces the options of a real DISCOVER with `options` (code, bytes) and an end option. */
function withOptions(base: Uint8Array, options: [number, number[]][], tail: number[] = [255]): Uint8Array {
  const fixed = base.subarray(0, 240);
  const body = options.flatMap(([code, bytes]) => [code, bytes.length, ...bytes]);
  return new Uint8Array([...fixed, 53, 1, 1, ...body, ...tail]);
}

const text = (s: string) => [...new TextEncoder().encode(s)];

describe("parseDhcp on a real exchange (udhcpc and dhclient against dnsmasq, captured by ulogd2)", () => {
  it("reads every message: type, client MAC, addresses, hostname, vendor class, client id", () => {
    const messages = payloads().map(parsed);
    expect(messages.map((m) => `${m.op}:${m.messageType}`)).toEqual([
      "request:discover", "reply:offer", "request:request", "reply:ack",
      "request:discover", "reply:offer", "request:request", "reply:ack",
      "request:release",
    ]);
    const [discover, offer, request, ack] = messages;
    expect(discover).toMatchObject({
      clientMac: "b8:27:eb:12:34:56",
      hostname: "pi-kiosk",
      vendorClass: "sekisho-test",
      clientId: "01b827eb123456",
    });
    expect(discover?.ciaddr).toBeUndefined();
    expect(offer).toMatchObject({ clientMac: "b8:27:eb:12:34:56", yiaddr: "192.0.2.116", serverId: "192.0.2.1" });
    expect(request).toMatchObject({ requestedIp: "192.0.2.116", serverId: "192.0.2.1", hostname: "pi-kiosk" });
    expect(ack).toMatchObject({ yiaddr: "192.0.2.116", clientMac: "b8:27:eb:12:34:56" });
    expect(messages[0]?.xid).toBe(messages[3]?.xid);

    expect(messages[4]).toMatchObject({ clientMac: "3c:a9:f4:00:00:42", hostname: "keiri-pc", vendorClass: "MSFT 5.0" });
    expect(messages[4]?.clientId).toBeUndefined(); // dhclient sends none by default
    expect(messages[8]).toMatchObject({ messageType: "release", ciaddr: "192.0.2.132", clientMac: "3c:a9:f4:00:00:42" });
  });
});

describe("parseDhcp on crafted messages", () => {
  const discover = () => payloads()[0] ?? new Uint8Array();

  it("keeps a hostile hostname as bounded text: markup stays text, control and bidi characters go", () => {
    const xss = parsed(withOptions(discover(), [[12, text("<img src=x onerror=alert(1)>")]]));
    expect(xss.hostname).toBe("<img src=x onerror=alert(1)>");
    const controls = parsed(withOptions(discover(), [[12, text("pc\u0007\u001b[31m\u202egnp.exe\u0000trailing")]]));
    expect(controls.hostname).toBe("pc[31mgnp.exe");
    const long = parsed(withOptions(discover(), [[12, text("a".repeat(200))]]));
    expect(long.hostname).toBe("a".repeat(63));
  });

  it("replaces invalid UTF-8 instead of failing, and keeps real UTF-8 (a Japanese hostname)", () => {
    const m = parsed(withOptions(discover(), [[12, [0x70, 0x63, 0xff, 0xfe, 0x2d, ...text("経理")]]]));
    expect(m.hostname).toBe("pc\ufffd\ufffd-経理");
  });

  it("drops a hostname that is only control characters or empty", () => {
    expect(parsed(withOptions(discover(), [[12, [1, 2, 3]]])).hostname).toBeUndefined();
    expect(parsed(withOptions(discover(), [[12, []]])).hostname).toBeUndefined();
  });

  it("joins a long option split over several instances (RFC 3396)", () => {
    const m = parsed(withOptions(discover(), [[60, text("vendor-")], [12, text("host")], [60, text("class")]]));
    expect(m.vendorClass).toBe("vendor-class");
    expect(m.hostname).toBe("host");
  });

  it("reads options overloaded into the file and sname fields (option 52)", () => {
    const base = withOptions(discover(), [[52, [3]]]);
    base.set([12, 4, ...text("over"), 255], 108); // file
    base.set([60, 3, ...text("abc"), 255], 44); // sname
    const m = parsed(base);
    expect(m.hostname).toBe("over");
    expect(m.vendorClass).toBe("abc");
  });

  it("accepts options without an end option, and a later message type as 'other'", () => {
    const m = parsed(withOptions(discover(), [[12, text("noend")]], []));
    expect(m.hostname).toBe("noend");
    const lease = withOptions(discover(), []);
    lease[242] = 10; // DHCPLEASEQUERY
    expect(parsed(lease).messageType).toBe("other");
  });

  it("refuses what is not DHCP, with a reason", () => {
    expect(parseDhcp(new Uint8Array(10))).toEqual({ ok: false, error: expect.stringContaining("too short") });
    const noCookie = discover().slice();
    noCookie[236] = 0;
    expect(parseDhcp(noCookie)).toEqual({ ok: false, error: "no DHCP magic cookie" });
    const badOp = discover().slice();
    badOp[0] = 7;
    expect(parseDhcp(badOp)).toEqual({ ok: false, error: "not a BOOTP message: op 7" });
    const cut = withOptions(discover(), [[12, text("hostname")]], []).subarray(0, 250);
    expect(parseDhcp(cut)).toEqual({ ok: false, error: expect.stringContaining("runs past the end") });
  });

  it("does not take a chaddr that is not Ethernet", () => {
    const m = discover().slice();
    m[1] = 6; // IEEE 802 token ring
    expect(parsed(m).clientMac).toBeUndefined();
  });
});

describe("parseDhcp never throws", () => {
  it("on arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 1500 }), (bytes) => {
      const r = parseDhcp(bytes);
      expect(typeof r.ok).toBe("boolean");
    }), { numRuns: 3000 });
  });

  it("on real messages with bytes changed, cut or appended, and every string it returns is bounded and clean", () => {
    const real = payloads();
    const mutated = fc.record({
      which: fc.nat({ max: real.length - 1 }),
      edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 30 }),
      cut: fc.option(fc.nat()),
      extra: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(fc.property(mutated, ({ which, edits, cut, extra }) => {
      const base = real[which] ?? new Uint8Array();
      const bytes = new Uint8Array([...base, ...extra]);
      for (const [at, value] of edits) bytes[240 + (at % Math.max(1, bytes.length - 240))] = value;
      const r = parseDhcp(cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1)));
      if (r.ok) {
        for (const s of [r.value.hostname, r.value.vendorClass]) {
          if (s === undefined) continue;
          expect(s.length).toBeLessThanOrEqual(128);
          expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
        }
        expect((r.value.clientId ?? "").length).toBeLessThanOrEqual(128);
      }
    }), { numRuns: 3000 });
  });

  it("nor does the packet decoder on arbitrary captures", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(1, 101, 228, 229, 7), (bytes, linkType) => {
      const r = decodeCaptured(bytes, linkType);
      if (r.ok && r.value.kind === "udp") expect((r.value as UdpPacket).payload.length).toBeLessThanOrEqual(bytes.length);
    }), { numRuns: 3000 });
  });
});
