/**
 * The inventory's tables. A device is a MAC (its identity); its addresses are kept apart,
 * one row per address with the MAC that last held it, so an address moving to another
 * device (a new DHCP lease) moves its row, and a device keeps several (IPv4, IPv6, privacy
 * addresses). Times are ms since the epoch. Every text column that came from the network
 * (hostname, vendor class) was sanitised and bounded before it got here (text.ts).
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const devices = sqliteTable("inventory_devices", {
  /** Canonical "aa:bb:cc:dd:ee:ff". */
  mac: text("mac").primaryKey(),
  /** "global" | "randomised" (mac.ts MacKind; group addresses are never devices). */
  macKind: text("mac_kind", { enum: ["global", "randomised"] }).notNull(),
  /** The registry's organisation for a global MAC, when known. */
  vendor: text("vendor"),
  /** DHCP option 12, the last one the device sent. */
  dhcpHostname: text("dhcp_hostname"),
  /** DHCP option 60 ("MSFT 5.0", "android-dhcp-14", …). */
  dhcpVendorClass: text("dhcp_vendor_class"),
  /** DHCP option 61, hex. */
  dhcpClientId: text("dhcp_client_id"),
  /** The name a person gave it on the admin page; null until then. */
  name: text("name"),
  firstSeen: integer("first_seen").notNull(),
  lastSeen: integer("last_seen").notNull(),
  /** observation.ts ObservationSource of the observation that last moved last_seen. */
  lastSource: text("last_source").notNull(),
  /** Seen during the first scan after installation (see inventory.ts): no new-device event. */
  baseline: integer("baseline", { mode: "boolean" }).notNull().default(false),
  /**
   * When the new-device event was handed on (null: not yet). Written after the event sink
   * accepted it, so a crash in between re-announces at the next start instead of losing it.
   */
  announcedAt: integer("announced_at"),
});

export const deviceAddresses = sqliteTable(
  "inventory_addresses",
  {
    /** Canonical address text; one row per address: its current holder. */
    ip: text("ip").primaryKey(),
    mac: text("mac").notNull().references(() => devices.mac, { onDelete: "cascade" }),
    family: integer("family").notNull(),
    firstSeen: integer("first_seen").notNull(),
    lastSeen: integer("last_seen").notNull(),
    source: text("source").notNull(),
  },
  (t) => [index("inventory_addresses_mac").on(t.mac)],
);

/** Small facts about the inventory itself ("baseline_started"). */
export const inventoryState = sqliteTable("inventory_state", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});
