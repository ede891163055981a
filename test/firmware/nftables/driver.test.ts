import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Nft } from "../../../firmware/nftables/driver.ts";
import { NftCommandError, NftNotFoundError, NftParseError } from "../../../firmware/nftables/errors.ts";
import type {
  Chain,
  Command,
  Counter,
  Elements,
  NamedSet,
  Rule,
  SetElement,
  Stmt,
  Table,
} from "../../../firmware/nftables/types.ts";
import { createNetns, execIn, isRoot, type Netns } from "./netns.ts";

const T = "sekisho_test";
const table: Table = { family: "inet", name: T };

const chains: Chain[] = [
  { family: "inet", table: T, name: "input", type: "filter", hook: "input", prio: 0, policy: "accept" },
  { family: "inet", table: T, name: "output", type: "filter", hook: "output", prio: 10, policy: "accept" },
  { family: "inet", table: T, name: "lan" },
];

const sets: NamedSet[] = [
  { family: "inet", table: T, name: "banned_v4", type: "ipv4_addr", elem: ["203.0.113.9", "198.51.100.1"] },
  {
    family: "inet", table: T, name: "nets_v4", type: "ipv4_addr", flags: ["interval"],
    elem: [{ prefix: { addr: "203.0.113.0", len: 24 } }, { range: ["10.1.0.1", "10.1.0.9"] }],
  },
  { family: "inet", table: T, name: "ban", type: "ipv4_addr", flags: ["timeout"], timeout: 3600, size: 65535 },
  { family: "inet", table: T, name: "pairs", type: ["ipv4_addr", "inet_service"] },
];

const counters: Counter[] = [
  { family: "inet", table: T, name: "udp9999" },
  { family: "inet", table: T, name: "dropped" },
];

const ipSaddr = { payload: { protocol: "ip", field: "saddr" } } as const;
const rules: Rule[] = [
  {
    family: "inet", table: T, chain: "input", comment: "c2-1",
    expr: [
      { match: { op: "==", left: ipSaddr, right: "@banned_v4" } },
      { log: { prefix: "sekisho:c2-1 ", group: 2 } },
      { counter: "dropped" },
      { drop: null },
    ],
  },
  {
    family: "inet", table: T, chain: "input",
    expr: [{ match: { op: "in", left: { ct: { key: "state" } }, right: ["established", "related"] } }, { accept: null }],
  },
  {
    family: "inet", table: T, chain: "input",
    expr: [
      { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: { set: [22, 443] } } },
      { limit: { rate: 10, burst: 5, per: "second" } },
      { set: { op: "update", elem: ipSaddr, set: "@ban" } },
      { reject: { type: "tcp reset" } },
    ],
  },
  {
    family: "inet", table: T, chain: "input",
    expr: [
      { match: { op: "!=", left: ipSaddr, right: { prefix: { addr: "10.0.0.0", len: 8 } } } },
      { match: { op: "==", left: ipSaddr, right: "@nets_v4" } },
      { jump: { target: "lan" } },
    ],
  },
  {
    family: "inet", table: T, chain: "output", comment: "probe",
    expr: [
      { match: { op: "==", left: { payload: { protocol: "udp", field: "dport" } }, right: 9999 } },
      { counter: "udp9999" },
      { counter: { packets: 0, bytes: 0 } },
      { accept: null },
    ],
  },
  {
    family: "inet", table: T, chain: "lan",
    expr: [
      { match: { op: "==", left: { "&": [{ meta: { key: "mark" } }, 255] }, right: 1 } },
      { mangle: { key: { meta: { key: "mark" } }, value: 2 } },
      { return: null },
    ],
  },
];

function buildTable(): Command[] {
  return [
    { add: { table } },
    ...chains.map((chain): Command => ({ add: { chain } })),
    ...sets.map((set): Command => ({ add: { set } })),
    ...counters.map((counter): Command => ({ add: { counter } })),
    ...rules.map((rule): Command => ({ add: { rule } })),
  ];
}

function withoutHandle<T extends { handle?: number }>(listed: T): Omit<T, "handle"> {
  const { handle: _handle, ...rest } = listed;
  return rest;
}

function elements(name: string, elem: SetElement[]): Elements {
  return { family: "inet", table: T, name, elem };
}

/** 100.64.0.0 + i, distinct for i below 2^16. */
function address(i: number): string {
  return `100.64.${i >> 8}.${i & 255}`;
}

const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** A stand-in for nft: node running a one-line script, nft's arguments after "--". */
function fakeNft(script: string): string[] {
  return [process.execPath, "-e", script, "--"];
}

const run = promisify(execFile);

describe("Nft without the real nft", () => {
  let runDir: string;
  beforeAll(async () => {
    runDir = await mkdtemp(join(tmpdir(), "sekisho-nft-"));
  });
  afterAll(async () => {
    await rm(runDir, { recursive: true, force: true });
  });

  it("throws NftNotFoundError when the binary is missing, and leaves no batch file", async () => {
    const nft = new Nft({ argv: ["/nonexistent/sekisho/nft"], runDir });
    await expect(nft.listTable("inet", T)).rejects.toBeInstanceOf(NftNotFoundError);
    const error = await nft.apply(buildTable()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftNotFoundError);
    expect((error as NftNotFoundError).cause).toMatchObject({ code: "ENOENT" });
    expect(String(error)).toContain("/nonexistent/sekisho/nft");
    expect(await readdir(runDir)).toEqual([]);
  });

  it("throws NftParseError when the output is not JSON", async () => {
    const nft = new Nft({ argv: fakeNft("process.stdout.write('garbage\\n')"), runDir });
    const error = await nft.listTable("inet", T).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftParseError);
    expect((error as NftParseError).message).toMatch(/not JSON/);
    expect((error as NftParseError).outputExcerpt).toBe("garbage\n");
    await expect(nft.listCounters("inet", T)).rejects.toBeInstanceOf(NftParseError);
    await expect(nft.tableExists("inet", T)).rejects.toBeInstanceOf(NftParseError);
  });

  it("throws NftParseError naming the path of a field that does not match", async () => {
    const doc = { nftables: [{ metainfo: {} }, { table: { family: "inet", name: T, handle: "1" } }] };
    const nft = new Nft({ argv: fakeNft(`process.stdout.write(${JSON.stringify(JSON.stringify(doc))})`), runDir });
    const error = await nft.listTable("inet", T).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftParseError);
    expect((error as NftParseError).issues).toEqual([
      { path: "nftables[1].table.handle", message: expect.stringMatching(/expected number/) },
    ]);
  });

  it("throws NftParseError for a statement it does not know, with its path", async () => {
    const doc = {
      nftables: [
        { table: { family: "inet", name: T, handle: 1 } },
        { rule: { family: "inet", table: T, chain: "c", handle: 2, expr: [{ accept: null }, { xt: { name: "x" } }] } },
      ],
    };
    const nft = new Nft({ argv: fakeNft(`process.stdout.write(${JSON.stringify(JSON.stringify(doc))})`), runDir });
    const error = await nft.listTable("inet", T).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftParseError);
    expect((error as NftParseError).issues).toEqual([{ path: "nftables[1].rule.expr[1]", message: 'unknown statement "xt"' }]);
    expect((error as Error).message).toContain('nftables[1].rule.expr[1]: unknown statement "xt"');
  });

  it("throws NftParseError when nft lists without error but without the table", async () => {
    const doc = { nftables: [{ metainfo: {} }, { table: { family: "inet", name: "other", handle: 1 } }] };
    const nft = new Nft({ argv: fakeNft(`process.stdout.write(${JSON.stringify(JSON.stringify(doc))})`), runDir });
    await expect(nft.listTable("inet", T)).rejects.toThrow(/no table inet sekisho_test in it/);
    await expect(nft.listCounters("inet", T)).rejects.toBeInstanceOf(NftParseError);
    expect(await nft.tableExists("inet", T)).toBe(false);
    expect(await nft.tableExists("inet", "other")).toBe(true);
  });

  it("skips listing objects it does not read (metainfo, map, quota)", async () => {
    const doc = {
      nftables: [
        { metainfo: { version: "1.0.6", json_schema_version: 1 } },
        { table: { family: "inet", name: T, handle: 1 } },
        { map: { family: "inet", name: "m", table: T, type: "ipv4_addr", map: "verdict", handle: 2 } },
        { quota: { family: "inet", name: "q", table: T, handle: 3, bytes: 10, used: 0, inv: false } },
      ],
    };
    const nft = new Nft({ argv: fakeNft(`process.stdout.write(${JSON.stringify(JSON.stringify(doc))})`), runDir });
    expect(await nft.listTable("inet", T)).toEqual({
      table: { family: "inet", name: T, handle: 1 }, chains: [], rules: [], sets: [], counters: [],
    });
  });

  it("reports a failing nft with its exit code and its stderr verbatim", async () => {
    const nft = new Nft({ argv: fakeNft("process.stderr.write('Error: boom\\n'); process.exit(3)"), runDir });
    const error = await nft.apply([{ add: { table } }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect(error).toMatchObject({ exitCode: 3, signal: null, stderr: "Error: boom\n", failedCommand: undefined });
    expect((error as Error).message).toContain("Error: boom");
    expect(await readdir(runDir)).toEqual([]);
  });

  it("reports an nft killed by a signal", async () => {
    const nft = new Nft({ argv: fakeNft("process.kill(process.pid, 'SIGKILL')"), runDir });
    const error = await nft.listTable("inet", T).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect(error).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    expect((error as Error).message).toContain("killed by SIGKILL");
  });
});

describe.skipIf(!isRoot)("Nft against the real nft in a network namespace (needs root: ip netns add)", () => {
  let ns: Netns;
  let runDir: string;
  let nft: Nft;

  beforeAll(async () => {
    ns = await createNetns("sk-nft");
    runDir = await mkdtemp(join(tmpdir(), "sekisho-nft-"));
    nft = new Nft({ argv: [...ns.exec, "nft"], runDir: join(runDir, "run") });
    await nft.apply(buildTable());
  });
  afterAll(async () => {
    await ns?.remove();
    if (runDir !== undefined) await rm(runDir, { recursive: true, force: true });
  });

  it("lists back the table, chains, rules, sets and counters as they were sent", async () => {
    const listing = await nft.listTable("inet", T);
    expect(withoutHandle(listing.table)).toEqual(table);
    expect(listing.chains.map(withoutHandle)).toEqual(chains);
    expect(listing.rules.map(withoutHandle)).toEqual(rules);
    // Terse: no elements.
    expect(listing.sets.map(withoutHandle)).toEqual(sets.map(({ elem: _elem, ...set }) => set));
    expect(listing.counters.map(withoutHandle)).toEqual(counters.map((c) => ({ ...c, packets: 0, bytes: 0 })));
    for (const o of [listing.table, ...listing.chains, ...listing.rules, ...listing.sets, ...listing.counters]) {
      expect(o.handle).toBeGreaterThan(0);
    }

    const full = await nft.listTable("inet", T, { elements: true });
    const banned = full.sets.find((s) => s.name === "banned_v4");
    expect(sorted((banned?.elem ?? []).map(String))).toEqual(sorted(["203.0.113.9", "198.51.100.1"]));
    expect(full.sets.find((s) => s.name === "nets_v4")?.elem).toEqual([
      { range: ["10.1.0.1", "10.1.0.9"] },
      { prefix: { addr: "203.0.113.0", len: 24 } },
    ]);
  });

  it("tells whether a table exists", async () => {
    expect(await nft.tableExists("inet", T)).toBe(true);
    expect(await nft.tableExists("ip", T)).toBe(false);
    expect(await nft.tableExists("inet", "no_such_table")).toBe(false);
  });

  it("throws NftCommandError with nft's message when listing a missing table", async () => {
    const error = await nft.listTable("inet", "no_such_table").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect((error as NftCommandError).stderr).toContain("No such file or directory");
    expect((error as Error).message).toMatch(/list table inet no_such_table .*No such file or directory/);
  });

  it("throws NftCommandError with nft's message for the counters of a missing table", async () => {
    const error = await nft.listCounters("inet", "no_such_table").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect((error as NftCommandError).stderr).toContain("No such file or directory");
  });

  it("counts real packets in named and anonymous counters", async () => {
    const before = await nft.listCounters("inet", T);
    expect(before.get("udp9999")).toEqual({ packets: 0, bytes: 0 });
    // Five 10-byte datagrams to a closed port on loopback, sent from inside the namespace.
    const script = `const s = require("node:dgram").createSocket("udp4"); let n = 0;
      const next = () => s.send(Buffer.alloc(10), 9999, "127.0.0.1", () => (++n < 5 ? next() : s.close())); next();`;
    await execIn(ns, [process.execPath, "-e", script]);

    const after = await nft.listCounters("inet", T);
    expect(after.get("udp9999")).toEqual({ packets: 5, bytes: 5 * (20 + 8 + 10) });
    expect(after.get("dropped")).toEqual({ packets: 0, bytes: 0 });
    const probe = (await nft.listTable("inet", T)).rules.find((r) => r.comment === "probe");
    expect(probe?.expr).toContainEqual({ counter: { packets: 5, bytes: 190 } });
  });

  it("applies a batch atomically: a last command that fails changes nothing", async () => {
    const before = await nft.listTable("inet", T, { elements: true });
    const batch: Command[] = [
      { delete: { table } },
      { add: { table } },
      { add: { chain: { family: "inet", table: T, name: "extra" } } },
      { add: { element: elements("banned_v4", ["192.0.2.77"]) } },
      { add: { counter: { family: "inet", table: T, name: "c3" } } },
      { add: { rule: { family: "inet", table: T, chain: "no_such_chain", expr: [{ accept: null }] } } },
    ];
    const error = await nft.apply(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect(await nft.listTable("inet", T, { elements: true })).toEqual(before);
    expect(await readdir(join(runDir, "run"))).toEqual([]);
  });

  it("checks a batch without applying it, good or broken", async () => {
    const before = await nft.listTable("inet", T, { elements: true });
    const good: Command[] = [
      { add: { chain: { family: "inet", table: T, name: "checked" } } },
      { add: { element: elements("banned_v4", ["192.0.2.78"]) } },
    ];
    await expect(nft.check(good)).resolves.toBeUndefined();
    const broken: Command[] = [...good, { create: { counter: counters[0]! } }];
    const error = await nft.check(broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect((error as Error).message).toMatch(/^nft check rejected the batch of 3 commands .*File exists/);
    expect(await nft.listTable("inet", T, { elements: true })).toEqual(before);
  });

  // What nft 1.0.6 says about a failing command in the middle of a batch: only JSON it
  // cannot parse names the command; evaluation and kernel errors do not.
  const failures: { what: string; bad: Command; index: number | undefined; says: string }[] = [
    {
      what: "a statement nft does not know (JSON parse)",
      bad: { add: { rule: { family: "inet", table: T, chain: "lan", expr: [{ bogus: null } as unknown as Stmt] } } },
      index: 2,
      says: "Unknown statement object 'bogus'",
    },
    {
      what: "a set flag nft does not know (JSON parse)",
      bad: { add: { set: { family: "inet", table: T, name: "x", type: "ipv4_addr", flags: ["dynamic" as "timeout"] } } },
      index: 2,
      says: "Invalid set flag",
    },
    {
      what: "a rule in a missing chain (kernel)",
      bad: { add: { rule: { family: "inet", table: T, chain: "no_such_chain", expr: [{ accept: null }] } } },
      index: undefined,
      says: "Could not process rule: No such file or directory",
    },
    {
      what: "a duplicate create (kernel)",
      bad: { create: { counter: { family: "inet", table: T, name: "dropped" } } },
      index: undefined,
      says: "Could not process rule: File exists",
    },
    {
      what: "an element of the wrong type (evaluation)",
      bad: { add: { element: elements("banned_v4", ["2001:db8::1"]) } },
      index: undefined,
      says: "Could not resolve hostname",
    },
    {
      what: "an element in a missing set (evaluation)",
      bad: { add: { element: elements("no_such_set", ["192.0.2.1"]) } },
      index: undefined,
      says: "No such file or directory",
    },
  ];

  it.each(failures)("reports $what with nft's message and command index $index", async ({ bad, index, says }) => {
    const batch: Command[] = [
      { add: { table } },
      { add: { chain: { family: "inet", table: T, name: "more" } } },
      bad,
      { add: { counter: { family: "inet", table: T, name: "after" } } },
    ];
    const error = await nft.apply(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    const e = error as NftCommandError;
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toContain(says);
    expect(e.message).toContain(says);
    if (index === undefined) {
      expect(e.failedCommand).toBeUndefined();
    } else {
      expect(e.failedCommand?.index).toBe(index);
      expect(e.failedCommand?.command).toBe(bad);
      expect(e.message).toContain(`at command ${index} (`);
    }
    expect(await nft.tableExists("inet", T)).toBe(true);
    expect((await nft.listTable("inet", T)).chains.map((c) => c.name)).not.toContain("more");
  });

  it("updates a 10k-element hash set by element diffs", async () => {
    const first = Array.from({ length: 10_000 }, (_, i) => address(i));
    await nft.apply([
      { add: { set: { family: "inet", table: T, name: "blocklist", type: "ipv4_addr" } } },
      { add: { element: elements("blocklist", first) } },
    ]);
    expect(sorted(await nft.listSetElements("inet", T, "blocklist"))).toEqual(sorted(first));

    const gone = first.slice(0, 1000);
    const added = Array.from({ length: 1000 }, (_, i) => address(10_000 + i));
    await nft.apply([
      { delete: { element: elements("blocklist", gone) } },
      { add: { element: elements("blocklist", added) } },
    ]);
    const wanted = [...first.slice(1000), ...added];
    expect(sorted(await nft.listSetElements("inet", T, "blocklist"))).toEqual(sorted(wanted));

    // A diff that deletes an element that is not there changes nothing at all.
    const error = await nft
      .apply([
        { add: { element: elements("blocklist", ["100.65.0.1"]) } },
        { delete: { element: elements("blocklist", [address(0)]) } },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NftCommandError);
    expect(sorted(await nft.listSetElements("inet", T, "blocklist"))).toEqual(sorted(wanted));
  });

  it("round-trips an interval set with prefixes and ranges", async () => {
    const v4 = ["203.0.113.0/24", "198.51.100.0/25", "192.0.2.7", "10.1.0.1-10.1.0.9"];
    const v6 = ["2001:db8::/32", "2001:db9::1", "fd00::1-fd00::9"];
    const toElement = (s: string): SetElement => {
      const [addr, len] = s.split("/");
      if (len !== undefined) return { prefix: { addr: addr!, len: Number(len) } };
      const [from, to] = s.split("-");
      return to === undefined ? s : { range: [from!, to] };
    };
    await nft.apply([
      { add: { set: { family: "inet", table: T, name: "nets6", type: "ipv6_addr", flags: ["interval"] } } },
      { add: { set: { family: "inet", table: T, name: "nets4", type: "ipv4_addr", flags: ["interval"] } } },
      { add: { element: elements("nets4", v4.map(toElement)) } },
      { add: { element: elements("nets6", v6.map(toElement)) } },
    ]);
    expect(sorted(await nft.listSetElements("inet", T, "nets4"))).toEqual(sorted(v4));
    expect(sorted(await nft.listSetElements("inet", T, "nets6"))).toEqual(sorted(v6));
  });

  it("lists elements with a timeout by value only", async () => {
    await nft.apply([
      { add: { element: elements("ban", [{ elem: { val: "192.0.2.1", timeout: 60, comment: "scan" } }, "192.0.2.2"]) } },
    ]);
    expect(sorted(await nft.listSetElements("inet", T, "ban"))).toEqual(["192.0.2.1", "192.0.2.2"]);
    const ban = (await nft.listTable("inet", T, { elements: true })).sets.find((s) => s.name === "ban");
    expect(ban?.elem).toContainEqual({
      elem: { val: "192.0.2.1", timeout: 60, expires: expect.any(Number), comment: "scan" },
    });
  });

  // Not round trips: what nft 1.0.6 does to some of what it is sent. A change here means
  // the compiler's output no longer lists back as it was sent.
  it("documents how nft normalises what it lists", async () => {
    const N = "normalised";
    await nft.apply([
      { add: { table: { family: "inet", name: N } } },
      { add: { chain: { family: "inet", table: N, name: "nat", type: "nat", hook: "postrouting", prio: 100 } } },
      { add: { set: { family: "inet", table: N, name: "seen", type: "ipv4_addr", flags: ["timeout"], timeout: 60 } } },
      {
        add: {
          set: {
            family: "inet", table: N, name: "nets", type: "ipv4_addr", flags: ["interval"],
            elem: [{ range: ["10.0.0.0", "10.0.0.255"] }, { prefix: { addr: "192.0.2.1", len: 32 } }, { prefix: { addr: "198.51.100.7", len: 24 } }],
          },
        },
      },
      { add: { chain: { family: "inet", table: N, name: "in", type: "filter", hook: "input", prio: 0 } } },
      {
        add: {
          rule: {
            family: "inet", table: N, chain: "in",
            expr: [
              { limit: { rate: 10, per: "second" } },
              { limit: { rate: 1000, per: "minute", rate_unit: "bytes" } },
              { set: { op: "update", elem: ipSaddr, set: "@seen" } },
              { log: { prefix: "x ", level: "warn" } },
              { reject: null },
            ],
          },
        },
      },
      { add: { rule: { family: "inet", table: N, chain: "in", expr: [{ reject: { type: "icmpx" } }] } } },
    ]);
    const listing = await nft.listTable("inet", N);
    // A base chain without a policy gets "accept".
    expect(listing.chains.map((c) => c.policy)).toEqual(["accept", "accept"]);
    // The kernel marks a set that a rule updates "dynamic", but JSON never lists that flag.
    expect(listing.sets.find((s) => s.name === "seen")?.flags).toEqual(["timeout"]);
    expect(listing.rules[0]?.expr).toEqual([
      { limit: { rate: 10, burst: 5, per: "second" } }, // default burst spelled out
      { limit: { rate: 1000, burst: 0, per: "minute", rate_unit: "bytes", burst_unit: "bytes" } },
      { set: { op: "update", elem: ipSaddr, set: "@seen" } },
      { log: { prefix: "x " } }, // default level dropped
      { reject: { type: "icmp", expr: "port-unreachable" } }, // ICMPv4 only, even in inet
    ]);
    expect(listing.rules[1]?.expr).toEqual([{ reject: { type: "icmpx", expr: "no-route" } }]); // code 0
    // A range that is a prefix lists as one, a /32 as the address, host bits are cleared.
    expect(sorted(await nft.listSetElements("inet", N, "nets"))).toEqual(["10.0.0.0/24", "192.0.2.1", "198.51.100.0/24"]);
  });

  it("treats a name as a name, never as nft syntax", async () => {
    const name = 't; delete table inet sekisho_test';
    await nft.apply([{ add: { table: { family: "inet", name } } }]);
    expect(await nft.tableExists("inet", name)).toBe(true);
    expect((await nft.listTable("inet", name)).table.name).toBe(name);
    expect(await nft.tableExists("inet", T)).toBe(true);
  });

  it("applies and lists a set of 100k elements", async () => {
    const many = Array.from({ length: 100_000 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    await nft.apply([
      { add: { table: { family: "inet", name: "big" } } },
      { add: { set: { family: "inet", table: "big", name: "hosts", type: "ipv4_addr", size: 200_000 } } },
      { add: { element: { family: "inet", table: "big", name: "hosts", elem: many } } },
    ]);
    const listed = await nft.listSetElements("inet", "big", "hosts");
    expect(listed).toHaveLength(100_000);
    expect(new Set(listed)).toEqual(new Set(many));
    // Terse listings stay cheap whatever the set holds.
    const terse = await nft.listTable("inet", "big");
    expect(terse.sets[0]?.elem).toBeUndefined();
    expect(await readdir(join(runDir, "run"))).toEqual([]);
  });

  it("never touched the host's ruleset", async () => {
    const { stdout } = await run("nft", ["-j", "list", "tables"]);
    expect(stdout).not.toContain(T);
  });
});
