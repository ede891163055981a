/**
 * DHCP and ARP snooping: the I/O edge that reads the packets the ruleset copies to the
 * snooping NFLOG group. ulogd2's JSON output carries no payload, so the snooping group has
 * its own ulogd2 stack, NFLOG → BASE → PCAP (the PCAP plugin is in Debian's `ulogd2-pcap`),
 * writing every packet to a pcap file on tmpfs (snoop-config.ts); this reader follows the
 * file, decodes what was appended, and hands DHCP and ARP observations on.
 *
 * Why a file and not a FIFO: ulogd opens its output at start-up and writes synchronously. A
 * FIFO would block ulogd (all of its stacks, the main log group too) until the firmware
 * opens it and whenever the firmware reads slowly, and kill it with SIGPIPE when the firmware
 * restarts. A file on tmpfs never blocks the writer.
 *
 * The file must not grow without bound. ulogd 2.0.8 opens an existing non-empty file in
 * append mode (O_APPEND), a missing or empty one in write mode; so prepareSnoopFile() writes
 * the pcap header before ulogd starts, and once the reader has consumed more than
 * `compactBytes` and is at the end, it truncates the file back to its header: ulogd's next
 * record lands right after it. Should ulogd have created the file itself (started first),
 * its next write goes to its old offset and leaves a hole of zeros: the reader recognises an
 * all-zero record header right after a truncation and skips to where the hole ends.
 * A record appended between the reader's size check and the truncation (two system calls
 * apart, once per `compactBytes` of traffic: about 3,000 DHCP packets) would be lost.
 */
import { open, stat, writeFile } from "node:fs/promises";
import { parseDhcp } from "./dhcp.ts";
import { observeArp, observeDhcp, type DeviceObservation, type LanScope } from "./observation.ts";
import { decodeCaptured } from "./packet.ts";
import {
  buildPcapHeader,
  isZeroRecordHeader,
  parsePcapHeader,
  parsePcapRecords,
  PCAP_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  type PcapHeader,
} from "./pcap.ts";

const DHCP_PORTS = new Set([67, 68]);
/** Most bytes read per step (a backlog after downtime is read in steps). */
const READ_STEP = 1024 * 1024;

/** Whether this machine stores integers little-endian (ulogd writes pcap in host order). */
export function isHostLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/**
 * Creates the snooping pcap file with its header when it is missing or empty, so that ulogd
 * (started after this) appends to it. Leaves a non-empty file alone.
 */
export async function prepareSnoopFile(path: string): Promise<void> {
  const size = await stat(path).then((s) => s.size, (err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return 0;
    throw err;
  });
  if (size > 0) return;
  await writeFile(path, buildPcapHeader({ littleEndian: isHostLittleEndian() }), { mode: 0o600 });
}

/** What the reader has done since it started; nothing read vanishes without a count. */
export type SnoopCounters = {
  /** pcap records read. */
  records: number;
  /** DHCP messages and ARP packets decoded. */
  dhcp: number;
  arp: number;
  /** Observations handed on. */
  observations: number;
  /** Records that did not decode (truncated, malformed: a LAN device can send anything). */
  rejected: number;
  /** Records that decoded but are neither DHCP nor ARP (another rule logging to the group). */
  ignored: number;
  /** Bytes skipped because the file stopped being a readable pcap at some point. */
  skippedBytes: number;
  /** Times the file was truncated back to its header. */
  compactions: number;
  lastError?: string;
};

export type SnoopReaderOptions = {
  /** The pcap file ulogd's PCAP stack writes. */
  path: string;
  scope: Pick<LanScope, "ownMacs">;
  onObservations: (observations: DeviceObservation[]) => Promise<unknown> | void;
  onError: (error: Error) => void;
  /** Between reads (default 500 ms): how late a DHCP request reaches the inventory at most. */
  intervalMs?: number;
  /** Truncate the file back to its header once this much was consumed (default 1 MiB). */
  compactBytes?: number;
};

type FileState = {
  ino: number;
  offset: number;
  header?: PcapHeader;
  /** After a truncation: where a non-appending writer's next record will be. */
  holeEnd?: number;
  /** The header did not parse: nothing in this file is read until it is replaced or truncated. */
  unreadable?: boolean;
};

/** Follows the snooping pcap file until stopped. */
export class SnoopReader {
  readonly #opts: SnoopReaderOptions;
  readonly #counters: SnoopCounters = {
    records: 0, dhcp: 0, arp: 0, observations: 0, rejected: 0, ignored: 0, skippedBytes: 0, compactions: 0,
  };
  #file: FileState | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: SnoopReaderOptions) {
    this.#opts = options;
  }

  counters(): SnoopCounters {
    return { ...this.#counters };
  }

  /**
   * Reads everything appended since the last read and hands its observations on (waiting for
   * the sink). Returns how many observations it handed on. Throws on I/O errors.
   */
  async readOnce(): Promise<number> {
    let handed = 0;
    for (;;) {
      const step = await this.#readStep();
      if (step.observations.length > 0) {
        await this.#opts.onObservations(step.observations);
        handed += step.observations.length;
        this.#counters.observations += step.observations.length;
      }
      if (!step.more) break;
    }
    await this.#compact();
    return handed;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops following the file, after one last read of what ulogd has written so far. */
  async stop(): Promise<void> {
    const wasRunning = !this.#stopped;
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    if (wasRunning) {
      await this.readOnce().catch((err: unknown) => this.#opts.onError(err instanceof Error ? err : new Error(String(err))));
    }
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.readOnce()
        .then(() => undefined, (err: unknown) => this.#opts.onError(err instanceof Error ? err : new Error(String(err))))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) this.#schedule(this.#opts.intervalMs ?? 500);
        });
    }, delayMs);
  }

  async #readStep(): Promise<{ observations: DeviceObservation[]; more: boolean }> {
    const none = { observations: [], more: false };
    const fh = await open(this.#opts.path, "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (fh === undefined) {
      this.#file = undefined; // ulogd has not created it yet (or it was removed)
      return none;
    }
    try {
      const st = await fh.stat();
      let f = this.#file;
      if (f === undefined || f.ino !== st.ino || st.size < f.offset) {
        // A new file, or truncated by someone else: start over from its header.
        f = { ino: st.ino, offset: 0 };
        this.#file = f;
      }
      if (f.unreadable === true) {
        this.#counters.skippedBytes += st.size - f.offset;
        f.offset = st.size;
        return none;
      }
      if (f.header === undefined) {
        if (st.size < PCAP_HEADER_LENGTH) return none;
        const head = await readAt(fh, 0, PCAP_HEADER_LENGTH);
        const parsed = parsePcapHeader(head);
        if (!parsed.ok) {
          f.unreadable = true;
          this.#skip(f, st.size, `${this.#opts.path}: ${parsed.error}`);
          return none;
        }
        f.header = parsed.value;
        f.offset = PCAP_HEADER_LENGTH;
      }
      if (st.size <= f.offset) return none;
      const length = Math.min(st.size - f.offset, READ_STEP);
      const bytes = await readAt(fh, f.offset, length);
      if (f.holeEnd !== undefined) {
        const holeEnd = f.holeEnd;
        if (isZeroRecordHeader(bytes.subarray(0, PCAP_RECORD_HEADER_LENGTH)) && st.size > holeEnd) {
          f.offset = holeEnd; // the writer does not append: skip the hole it left
          f.holeEnd = undefined;
          return { observations: [], more: true };
        }
        if (bytes.length >= PCAP_RECORD_HEADER_LENGTH) f.holeEnd = undefined;
      }
      const chunk = parsePcapRecords(bytes, f.header);
      const observations = this.#decode(chunk.records, f.header.linkType);
      f.offset += chunk.consumed;
      if (chunk.error !== undefined) {
        this.#skip(f, st.size, `${this.#opts.path}: ${chunk.error}`);
        return { observations, more: false };
      }
      // A record larger than one step cannot be consumed in steps: it is bounded by the
      // parser (256 KiB), below READ_STEP, so "no progress" means "incomplete: wait".
      return { observations, more: chunk.consumed > 0 && f.offset < st.size };
    } finally {
      await fh.close();
    }
  }

  #decode(records: ReturnType<typeof parsePcapRecords>["records"], linkType: number): DeviceObservation[] {
    const out: DeviceObservation[] = [];
    for (const record of records) {
      this.#counters.records++;
      const packet = decodeCaptured(record.data, linkType);
      if (!packet.ok) {
        this.#reject(packet.error);
        continue;
      }
      const p = packet.value;
      const time = Math.floor(record.time);
      if (p.kind === "arp") {
        this.#counters.arp++;
        const obs = observeArp(p, this.#opts.scope, time);
        if (obs !== undefined) out.push(obs);
      } else if (DHCP_PORTS.has(p.sport) && DHCP_PORTS.has(p.dport) && p.ipVersion === 4) {
        const dhcp = parseDhcp(p.payload);
        if (!dhcp.ok) {
          this.#reject(dhcp.error);
          continue;
        }
        this.#counters.dhcp++;
        const obs = observeDhcp(dhcp.value, time);
        if (obs !== undefined) out.push(obs);
      } else {
        this.#counters.ignored++;
      }
    }
    return out;
  }

  /** Once consumed beyond compactBytes and at the end: truncate back to the header. */
  async #compact(): Promise<void> {
    const f = this.#file;
    const limit = this.#opts.compactBytes ?? 1024 * 1024;
    if (f === undefined || f.header === undefined || f.offset < limit) return;
    const fh = await open(this.#opts.path, "r+");
    try {
      const st = await fh.stat();
      if (st.ino !== f.ino || st.size !== f.offset) return; // more arrived: read it first
      await fh.truncate(PCAP_HEADER_LENGTH);
      f.holeEnd = f.offset;
      f.offset = PCAP_HEADER_LENGTH;
      this.#counters.compactions++;
    } finally {
      await fh.close();
    }
  }

  #reject(error: string): void {
    this.#counters.rejected++;
    this.#counters.lastError = error;
  }

  /** The file cannot be read from here on: count what is skipped, go on with what comes after. */
  #skip(f: FileState, size: number, error: string): void {
    const skipped = size - f.offset;
    this.#counters.skippedBytes += skipped;
    this.#counters.lastError = error;
    f.offset = size;
    this.#opts.onError(new Error(`snooping file: ${skipped} bytes skipped: ${error}`));
  }
}

async function readAt(fh: Awaited<ReturnType<typeof open>>, position: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buffer, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buffer.subarray(0, got);
}
