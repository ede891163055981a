import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { classifyMac, parseMac } from "../../../firmware/inventory/mac.ts";
import { sanitiseText } from "../../../firmware/inventory/text.ts";
import {
  describeVendor,
  loadVendorTable,
  lookupVendor,
  parseVendorRegistry,
  resolveOuiDataPath,
  VendorTableError,
  type VendorTable,
} from "../../../firmware/inventory/vendor.ts";

describe("lookupVendor with the shipped registry (oui-data)", () => {
  let table: VendorTable;
  beforeAll(async () => {
    const started = performance.now();
    table = await loadVendorTable();
    // Measured here: about 0.1 s under Node (see the README); a generous bound for slow CI.
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("loads every MA-L, MA-M and MA-S prefix", () => {
    expect(table.size).toBeGreaterThan(50_000);
    expect(table.skipped).toBe(0);
    // Only the organisation lines stay: about 1.3 MB of the 5.6 MB file.
    expect(table.text.length).toBeLessThan(2_000_000);
  });

  it("names the makers of known OUIs, whatever the MAC's spelling", () => {
    expect(lookupVendor(table, "b8:27:eb:12:34:56")).toEqual({ kind: "vendor", name: "Raspberry Pi Foundation", prefix: "B827EB" });
    expect(lookupVendor(table, "3C-A9-F4-00-00-42")).toMatchObject({ name: "Intel Corporate" });
    expect(lookupVendor(table, "00000c123456")).toMatchObject({ name: "Cisco Systems, Inc" });
    expect(lookupVendor(table, "001b.6300.0001")).toMatchObject({ name: "Apple, Inc." });
  });

  it("takes the longest registry prefix: MA-S and MA-M inside IEEE Registration Authority blocks", () => {
    expect(lookupVendor(table, "00:1b:c5:06:50:01")).toEqual({ kind: "vendor", name: "Plair Media Inc.", prefix: "001BC5065" });
    expect(lookupVendor(table, "38:05:25:1a:bc:de")).toEqual({ kind: "vendor", name: "Visitech AS", prefix: "3805251" });
    // An MA-L block of the registration authority with no sub-assignment at that address.
    expect(lookupVendor(table, "70:b3:d5:ff:ff:ff").kind).toBe("vendor");
  });

  it("reports randomised (locally administered) MACs as such, never a vendor", () => {
    // A phone's Wi-Fi MAC: random, with the 0x02 bit set. b8:27:eb with that bit would be
    // "Raspberry Pi" if looked up.
    expect(lookupVendor(table, "ba:27:eb:12:34:56")).toEqual({ kind: "randomised" });
    expect(lookupVendor(table, "02:5e:4b:00:01:10")).toEqual({ kind: "randomised" });
    expect(describeVendor({ kind: "randomised" }, "ja")).toBe("ランダムMAC");
    expect(describeVendor({ kind: "randomised" }, "en")).toBe("randomised");
  });

  it("does not look up group addresses or garbage, and says when a global prefix is unknown", () => {
    expect(lookupVendor(table, "01:00:5e:00:00:01")).toEqual({ kind: "invalid" });
    expect(lookupVendor(table, "ff:ff:ff:ff:ff:ff")).toEqual({ kind: "invalid" });
    expect(lookupVendor(table, "not a mac")).toEqual({ kind: "invalid" });
    expect(lookupVendor(table, "fc:ff:ff:00:00:01")).toEqual({ kind: "unknown" }); // unassigned
    expect(describeVendor({ kind: "unknown" }, "ja")).toBe("不明");
  });
});

describe("parseVendorRegistry", () => {
  const registry = (text: string) => {
    const r = parseVendorRegistry(new TextEncoder().encode(text));
    if (!r.ok) throw new Error(r.error);
    return r.value;
  };

  it("keeps the organisation line, cleans it, and skips keys that are not 6, 7 or 9 hex digits", () => {
    const t = registry(JSON.stringify({
      "00AA01": "Acme\nSomewhere 1\nJP",
      "00aa02": "Acme\nSomewhere 2\nJP",
      "00AA03": "Evil\u202eCorp\u0007\nx",
      "00AA0": "too short",
      "ZZAA04": "not hex",
      "00AA05": "\nno name",
      "00AA0612": "eight digits",
    }));
    expect(t.size).toBe(3);
    expect(t.skipped).toBe(4);
    expect(lookupVendor(t, "00:aa:01:00:00:00")).toEqual({ kind: "vendor", name: "Acme", prefix: "00AA01" });
    expect(lookupVendor(t, "00:aa:02:00:00:00")).toMatchObject({ name: "Acme" });
    expect(lookupVendor(t, "00:aa:03:00:00:00")).toMatchObject({ name: "EvilCorp" });
    expect(lookupVendor(t, "00:aa:05:00:00:00")).toEqual({ kind: "unknown" });
  });

  it("reads JSON escapes and white space, and refuses anything but a flat object of strings", () => {
    const t = registry(' {\n "00AA01" : "A \\"q\\" \\\\ \\u00e9 \\u65e5\\u672c\\nrest" ,"00AA02":"B"}\n');
    expect(lookupVendor(t, "00:aa:01:00:00:00")).toMatchObject({ name: 'A "q" \\ é 日本' });
    expect(registry("{}").size).toBe(0);
    const refuse = (text: string) => parseVendorRegistry(new TextEncoder().encode(text));
    expect(refuse('{"00AA01": {"name": "nested"}}')).toMatchObject({ ok: false, error: expect.stringContaining("expected a string value") });
    expect(refuse('["00AA01"]')).toMatchObject({ ok: false, error: expect.stringContaining("not a JSON object") });
    expect(refuse('{"00AA01": "cut')).toMatchObject({ ok: false });
    expect(refuse('{"00AA01": "a" "00AA02": "b"}')).toMatchObject({ ok: false, error: expect.stringContaining("expected , or }") });
  });

  it("reads the real registry file to what JSON.parse reads (first lines, cleaned; every prefix)", () => {
    const bytes = new Uint8Array(readFileSync(resolveOuiDataPath()));
    const r = parseVendorRegistry(bytes);
    if (!r.ok) throw new Error(r.error);
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, string>;
    expect(r.value.size).toBe(Object.keys(parsed).length);
    const differing: string[] = [];
    for (const [key, value] of Object.entries(parsed)) {
      // A MAC inside the prefix: the prefix's digits, then zeros.
      const mac = key.padEnd(12, "0").toLowerCase();
      if (Number.parseInt(mac.slice(0, 2), 16) & 0x03) continue; // local/group bit set: never looked up
      const got = lookupVendor(r.value, mac);
      const longer = got.kind === "vendor" && got.prefix.length > key.length; // a sub-assignment wins
      if (!longer && !(got.kind === "vendor" && got.prefix === key && got.name === sanitiseText(value.split("\n", 1)[0] ?? "", 80))) differing.push(key);
    }
    expect(differing).toEqual([]);
  });

  it("tells what is wrong with a file that cannot be read", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sekisho-oui-"));
    try {
      writeFileSync(join(dir, "bad.json"), "[]");
      await expect(loadVendorTable(join(dir, "bad.json"))).rejects.toThrow(VendorTableError);
      await expect(loadVendorTable(join(dir, "missing.json"))).rejects.toThrow(/cannot read the MAC vendor registry/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("MAC parsing", () => {
  it("canonicalises the usual spellings and refuses the rest", () => {
    for (const s of ["B8:27:EB:12:34:56", "b8-27-eb-12-34-56", "b827eb123456", "b827.eb12.3456", " b8:27:eb:12:34:56 "]) {
      expect(parseMac(s)).toBe("b8:27:eb:12:34:56");
    }
    for (const s of ["b8:27:eb:12:34", "b8:27:eb:12:34:5g", "b8:27-eb:12:34:56:78", ""]) expect(parseMac(s)).toBeUndefined();
    expect(classifyMac("b8:27:eb:12:34:56")).toBe("global");
    expect(classifyMac("da:a1:19:00:00:01")).toBe("randomised");
    expect(classifyMac("33:33:00:00:00:01")).toBe("group");
  });
});
