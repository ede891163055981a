import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parsePcapHeader, parsePcapRecords, type PcapHeader, type PcapRecord } from "../../../firmware/inventory/pcap.ts";

export const FIXTURES = join(import.meta.dirname ?? ".", "fixtures");

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

/** The records of the captured DHCP exchange (see fixtures/README.md). */
export function dhcpExchange(): { bytes: Uint8Array; header: PcapHeader; records: PcapRecord[] } {
  const bytes = fixture("dhcp-exchange.pcap");
  const header = parsePcapHeader(bytes);
  if (!header.ok) throw new Error(header.error);
  const { records } = parsePcapRecords(bytes.subarray(24), header.value);
  return { bytes, header: header.value, records };
}
