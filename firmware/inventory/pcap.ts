/**
 * The classic pcap file format (libpcap's savefile: a 24-byte file header, then records of a
 * 16-byte header and the captured bytes), as ulogd2's PCAP output writes it: the byte order
 * of the machine that wrote it, link type RAW (the packet starts at its network header).
 * Pure: bytes in, records out. Nothing here reads a file; snoop-reader.ts does.
 */

export const PCAP_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;

/** Link types this reader understands (the tcpdump LINKTYPE_* values). */
export const LINKTYPE = { ethernet: 1, raw: 101, ipv4: 228, ipv6: 229 } as const;

/**
 * Largest record accepted. ulogd writes whole packets (a snaplen of 64 KiB); anything larger
 * means the file is not what we think it is.
 */
const MAX_CAPLEN = 256 * 1024;

const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;

export type PcapHeader = {
  littleEndian: boolean;
  /** Timestamps in nanoseconds (magic a1b23c4d) rather than microseconds. */
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
};

export type PcapRecord = {
  /** Capture time, ms since the epoch (with fractions). */
  time: number;
  /** The captured bytes (a view into the input: copy it to keep it past the next read). */
  data: Uint8Array;
  /** Length of the packet on the wire (≥ data.length when the capture was cut short). */
  originalLength: number;
};

export type PcapHeaderResult = { ok: true; value: PcapHeader } | { ok: false; error: string };

/** Reads the 24-byte file header; the magic number says the byte order and time unit. */
export function parsePcapHeader(bytes: Uint8Array): PcapHeaderResult {
  if (bytes.length < PCAP_HEADER_LENGTH) {
    return { ok: false, error: `pcap header needs ${PCAP_HEADER_LENGTH} bytes, got ${bytes.length}` };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, PCAP_HEADER_LENGTH);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  const le = view.getUint32(0, true);
  const be = view.getUint32(0, false);
  if (le === MAGIC_MICRO || le === MAGIC_NANO) {
    littleEndian = true;
    nanoseconds = le === MAGIC_NANO;
  } else if (be === MAGIC_MICRO || be === MAGIC_NANO) {
    littleEndian = false;
    nanoseconds = be === MAGIC_NANO;
  } else {
    return { ok: false, error: `not a pcap file (magic ${be.toString(16).padStart(8, "0")})` };
  }
  const header: PcapHeader = {
    littleEndian,
    nanoseconds,
    versionMajor: view.getUint16(4, littleEndian),
    versionMinor: view.getUint16(6, littleEndian),
    snaplen: view.getUint32(16, littleEndian),
    // The upper bits of the link-type field carry FCS information (pcap-savefile(5)).
    linkType: view.getUint32(20, littleEndian) & 0x0fffffff,
  };
  if (header.versionMajor !== 2) return { ok: false, error: `unsupported pcap version ${header.versionMajor}.${header.versionMinor}` };
  return { ok: true, value: header };
}

/** What a chunk of record bytes held. */
export type PcapRecords = {
  records: PcapRecord[];
  /**
   * Bytes of `bytes` that made up whole records. The rest is an incomplete record still
   * being written (wait for more) — or, when `error` is set, data that cannot be records.
   */
  consumed: number;
  error?: string;
};

/**
 * Splits `bytes` (which start at a record boundary) into records. Stops before an incomplete
 * record; stops with `error` at a record header that cannot be one (length beyond the
 * format's bounds), since nothing after it can be trusted to be aligned.
 */
export function parsePcapRecords(bytes: Uint8Array, header: PcapHeader): PcapRecords {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = header.littleEndian;
  const records: PcapRecord[] = [];
  let at = 0;
  while (at + PCAP_RECORD_HEADER_LENGTH <= bytes.length) {
    const sec = view.getUint32(at, le);
    const frac = view.getUint32(at + 4, le);
    const caplen = view.getUint32(at + 8, le);
    const originalLength = view.getUint32(at + 12, le);
    if (caplen > MAX_CAPLEN) {
      return { records, consumed: at, error: `pcap record at byte ${at} claims ${caplen} bytes (at most ${MAX_CAPLEN})` };
    }
    if (frac >= (header.nanoseconds ? 1e9 : 1e6)) {
      return { records, consumed: at, error: `pcap record at byte ${at} has an invalid timestamp fraction ${frac}` };
    }
    const end = at + PCAP_RECORD_HEADER_LENGTH + caplen;
    if (end > bytes.length) break;
    records.push({
      time: sec * 1000 + (header.nanoseconds ? frac / 1e6 : frac / 1e3),
      data: bytes.subarray(at + PCAP_RECORD_HEADER_LENGTH, end),
      originalLength: Math.max(originalLength, caplen),
    });
    at = end;
  }
  return { records, consumed: at };
}

/** Whether a 16-byte record header is all zeros: the hole a non-appending writer leaves behind a truncation. */
export function isZeroRecordHeader(bytes: Uint8Array): boolean {
  if (bytes.length < PCAP_RECORD_HEADER_LENGTH) return false;
  for (let i = 0; i < PCAP_RECORD_HEADER_LENGTH; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * A pcap file header as ulogd2 writes it (link type RAW, microseconds, 64 KiB snaplen), in
 * the given byte order: ulogd writes its records in the host's order, so the header must match.
 */
export function buildPcapHeader(opts: { littleEndian: boolean; linkType?: number }): Uint8Array {
  const bytes = new Uint8Array(PCAP_HEADER_LENGTH);
  const view = new DataView(bytes.buffer);
  const le = opts.littleEndian;
  view.setUint32(0, MAGIC_MICRO, le);
  view.setUint16(4, 2, le);
  view.setUint16(6, 4, le);
  view.setInt32(8, 0, le);
  view.setUint32(12, 0, le);
  view.setUint32(16, 65536, le);
  view.setUint32(20, opts.linkType ?? LINKTYPE.raw, le);
  return bytes;
}
