import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadList, listPath, readStoredLists, refreshLists } from "../../../firmware/dns/list-store.ts";
import type { ListText } from "../../../firmware/dns/lists.ts";
import type { DnsList } from "../../../policies/schema.ts";

describe("list store (downloads on loopback)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sekisho-lists-"));
  let server: Server;
  let base = "";
  const pages = new Map<string, { status: number; body: Uint8Array | string }>();
  beforeAll(async () => {
    server = createServer((req, res) => {
      const p = pages.get(req.url ?? "");
      res.writeHead(p?.status ?? 404);
      res.end(p?.body ?? "not found");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const a = server.address();
    base = `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });
  const whole = (t: ListText | undefined) => (t === undefined ? undefined : typeof t === "string" ? t : [...t].join(""));
  const list = (id: string, path: string): DnsList => ({ id, category: "malware", format: "domains", match: "subdomain", url: `${base}${path}` });

  it("downloads, gunzips .gz, and keeps the copy", async () => {
    pages.set("/a.txt", { status: 200, body: "a.example\nb.example\n" });
    pages.set("/c.txt.gz", { status: 200, body: gzipSync("c.example\n") });
    const r = await refreshLists([list("a", "/a.txt"), list("c", "/c.txt.gz")], { dir });
    expect(r.outcomes).toEqual([{ id: "a", status: "fresh", bytes: 20, changed: true }, { id: "c", status: "fresh", bytes: 10, changed: true }]);
    expect(whole(r.texts.get("c"))).toBe("c.example\n");
    expect(readFileSync(listPath(dir, "a"), "utf8")).toBe("a.example\nb.example\n");
    // The same text again: fresh, but unchanged (the filter need not be rebuilt).
    const again = await refreshLists([list("a", "/a.txt")], { dir });
    expect(again.outcomes).toEqual([{ id: "a", status: "fresh", bytes: 20, changed: false }]);
  });

  it("falls back to the last good copy when the download fails or is not a list; reports why", async () => {
    pages.set("/a.txt", { status: 500, body: "oops" });
    pages.set("/c.txt.gz", { status: 200, body: "<html><body><h1>Service Unavailable</h1></body></html>" });
    const r = await refreshLists([list("a", "/a.txt"), list("c", "/c.txt.gz"), list("new", "/new.txt")], { dir });
    expect(r.outcomes[0]).toEqual({ id: "a", status: "stale", bytes: 20, problem: "HTTP 500" });
    expect(r.outcomes[1]).toMatchObject({ id: "c", status: "stale" });
    expect(r.outcomes[2]).toEqual({ id: "new", status: "missing", problem: "HTTP 404" });
    expect(whole(r.texts.get("a"))).toBe("a.example\nb.example\n");
    expect(readFileSync(listPath(dir, "a"), "utf8")).toBe("a.example\nb.example\n");
    const stored = await readStoredLists([list("a", "/x"), list("new", "/y")], dir);
    expect([...stored.keys()]).toEqual(["a"]);
    expect(whole(stored.get("a"))).toBe("a.example\nb.example\n");
  });

  it("refuses lists over the size limit, wrong encodings and unreachable servers", async () => {
    pages.set("/big.txt", { status: 200, body: "x.example\n".repeat(1000) });
    expect(await downloadList(`${base}/big.txt`, { maxBytes: 100 })).toMatchObject({ ok: false, problem: expect.stringMatching(/too big/) });
    pages.set("/bin.txt", { status: 200, body: Uint8Array.of(0xff, 0xfe, 0x00) });
    expect(await downloadList(`${base}/bin.txt`)).toEqual({ ok: false, problem: "not UTF-8 text" });
    expect(await downloadList("http://127.0.0.1:1/none.txt", { timeoutMs: 2000 })).toMatchObject({ ok: false, problem: expect.stringMatching(/download failed/) });
  });
});
