/**
 * A small DNS message writer and reader for the tests, written separately from
 * firmware/dns/codec.ts so the tests do not check the codec against itself.
 */

export type TestQuery = {
  id?: number;
  name: string;
  type: number;
  qclass?: number;
  rd?: boolean;
  cd?: boolean;
  /** EDNS(0): payload size and DO bit; undefined = no OPT record. */
  edns?: { size?: number; do?: boolean; version?: number; options?: Uint8Array };
};

export function encodeName(name: string): number[] {
  const out: number[] = [];
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed !== "") {
    for (const label of trimmed.split(".")) {
      const bytes = [...new TextEncoder().encode(label)];
      out.push(bytes.length, ...bytes);
    }
  }
  out.push(0);
  return out;
}

export function buildQuery(q: TestQuery): Uint8Array {
  const id = q.id ?? 0x1234;
  const flags = (q.rd === false ? 0 : 0x0100) | (q.cd ? 0x0010 : 0);
  const bytes = [id >> 8, id & 255, flags >> 8, flags & 255, 0, 1, 0, 0, 0, 0, 0, q.edns ? 1 : 0];
  bytes.push(...encodeName(q.name), q.type >> 8, q.type & 255, (q.qclass ?? 1) >> 8, (q.qclass ?? 1) & 255);
  if (q.edns) {
    const size = q.edns.size ?? 1232;
    const opts = [...(q.edns.options ?? [])];
    bytes.push(0, 0, 41, size >> 8, size & 255, 0, q.edns.version ?? 0, q.edns.do ? 0x80 : 0, 0, opts.length >> 8, opts.length & 255, ...opts);
  }
  return Uint8Array.from(bytes);
}

export type TestRecord = { name: string; type: number; class: number; ttl: number; data: Uint8Array; text: string };
export type TestMessage = {
  id: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  ad: boolean;
  cd: boolean;
  rcode: number;
  question?: { name: string; type: number; class: number };
  answers: TestRecord[];
  authority: TestRecord[];
  additional: TestRecord[];
  /** The OPT record, when present: size, extended rcode bits, version, DO. */
  opt?: { size: number; extRcode: number; version: number; do: boolean };
};

function readName(b: Uint8Array, o: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  let hops = 0;
  for (;;) {
    const len = b[o]!;
    if (len === 0) {
      if (end < 0) end = o + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = o + 2;
      o = ((len & 0x3f) << 8) | b[o + 1]!;
      if (++hops > 64) throw new Error("pointer loop");
      continue;
    }
    labels.push(new TextDecoder().decode(b.subarray(o + 1, o + 1 + len)));
    o += len + 1;
  }
  return { name: labels.join("."), end };
}

function rdataText(b: Uint8Array, type: number, start: number, len: number): string {
  const d = b.subarray(start, start + len);
  if (type === 1 && len === 4) return [...d].join(".");
  if (type === 28 && len === 16) {
    const g: string[] = [];
    for (let i = 0; i < 16; i += 2) g.push(((d[i]! << 8) | d[i + 1]!).toString(16));
    return g.join(":");
  }
  if (type === 5 || type === 2 || type === 12) return readName(b, start).name;
  if (type === 16) {
    const parts: string[] = [];
    for (let i = 0; i < len; ) {
      const l = d[i]!;
      parts.push(new TextDecoder().decode(d.subarray(i + 1, i + 1 + l)));
      i += l + 1;
    }
    return parts.join("");
  }
  if (type === 6) return `${readName(b, start).name} …`;
  return "";
}

export function decodeMessage(b: Uint8Array): TestMessage {
  const u16 = (o: number) => (b[o]! << 8) | b[o + 1]!;
  const flags = u16(2);
  const m: TestMessage = {
    id: u16(0), qr: !!(flags & 0x8000), aa: !!(flags & 0x400), tc: !!(flags & 0x200), rd: !!(flags & 0x100), ra: !!(flags & 0x80),
    ad: !!(flags & 0x20), cd: !!(flags & 0x10), rcode: flags & 15, answers: [], authority: [], additional: [],
  };
  let o = 12;
  if (u16(4) > 0) {
    const n = readName(b, o);
    m.question = { name: n.name, type: u16(n.end), class: u16(n.end + 2) };
    o = n.end + 4;
  }
  const sections: [number, TestRecord[]][] = [[u16(6), m.answers], [u16(8), m.authority], [u16(10), m.additional]];
  for (const [count, list] of sections) {
    for (let k = 0; k < count; k++) {
      const n = readName(b, o);
      const type = u16(n.end);
      const klass = u16(n.end + 2);
      const ttl = ((b[n.end + 4]! << 24) | (b[n.end + 5]! << 16) | (b[n.end + 6]! << 8) | b[n.end + 7]!) >>> 0;
      const len = u16(n.end + 8);
      const start = n.end + 10;
      if (type === 41) {
        m.opt = { size: klass, extRcode: ttl >>> 24, version: (ttl >>> 16) & 255, do: !!(ttl & 0x8000) };
      } else {
        list.push({ name: n.name, type, class: klass, ttl, data: b.slice(start, start + len), text: rdataText(b, type, start, len) });
      }
      o = start + len;
    }
  }
  return m;
}
