/**
 * The inventory service alone, as the firmware will run it, for the end-to-end test: started
 * under Deno in the lab's box namespace with only the permissions it needs (see
 * inventoryPermissionFlags). Until firmware/main.ts wires the inventory into `sekisho run`,
 * this is its composition root in the lab: database + migrations, vendor table, neighbour
 * poller, snooping reader. Prints "ready" once started, one "event <json>" line per event it
 * is handed, and on SIGTERM "status <json>" (InventoryStatus) and "stopped".
 *
 *   deno run <flags> test/e2e/inventory-box.ts --dir DIR --lan-dev br0 --lan-prefix 192.0.2.0/24
 *     [--own-mac MAC] [--baseline-ms N] [--poll-ms N]
 */
import { join } from "node:path";
import process from "node:process";
import { InventoryService, INVENTORY_MIGRATIONS } from "../../firmware/inventory/service.ts";
import { loadVendorTable } from "../../firmware/inventory/vendor.ts";
import { applyMigrations, closeDatabase, openDatabase } from "../../firmware/store/database.ts";
import { parsePrefix } from "../../policies/net.ts";

function args(argv: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i] ?? "";
    const value = argv[i + 1];
    if (!key.startsWith("--") || value === undefined) throw new Error(`bad argument ${key}`);
    out.set(key.slice(2), [...(out.get(key.slice(2)) ?? []), value]);
  }
  return out;
}

const a = args(process.argv.slice(2));
const one = (k: string): string => {
  const v = a.get(k)?.[0];
  if (v === undefined) throw new Error(`--${k} is required`);
  return v;
};
const dir = one("dir");
const prefixes = (a.get("lan-prefix") ?? []).map((p) => {
  const r = parsePrefix(p);
  if (!r.ok) throw new Error(r.error);
  return r.value;
});

const database = await openDatabase(join(dir, "sekisho.db"));
await applyMigrations(database, INVENTORY_MIGRATIONS, "inventory");
const service = new InventoryService({
  database,
  vendors: await loadVendorTable(),
  scope: { neighbourDevs: a.get("lan-dev") ?? [], prefixes, ownMacs: a.get("own-mac") ?? [] },
  emit: (events) => {
    for (const e of events) console.log(`event ${JSON.stringify(e)}`);
  },
  log: (line) => console.error(line),
  snoopFile: join(dir, "snoop.pcap"),
  pollIntervalMs: Number(a.get("poll-ms")?.[0] ?? 15_000),
  snoopIntervalMs: 100,
  inventory: { baselineMs: Number(a.get("baseline-ms")?.[0] ?? 3_600_000), lastSeenResolutionMs: 0 },
});
await service.start();
console.log("ready");

process.on("SIGTERM", () => {
  void service.stop().then(() => {
    console.log(`status ${JSON.stringify(service.status())}`);
    closeDatabase(database);
    console.log("stopped");
    process.exit(0);
  }, (err: unknown) => {
    console.error(`stop failed: ${(err as Error).message}`);
    process.exit(1);
  });
});
