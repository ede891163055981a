/**
 * The DatagramSocket on the C library through Deno's FFI (Linux; Deno with --allow-ffi, which
 * the firmware has for libsql). `Deno.listenDatagram` makes one asynchronous op per datagram;
 * here one `recvmmsg` takes up to 64 datagrams and a reply is one synchronous `sendto`
 * (measured on this VM, 100k datagrams/s of 941 bytes: 2.2 µs of CPU per received datagram
 * against Deno.listenDatagram's 4.6; README "Running the firmware"). It can also set
 * SO_RCVBUF, which Deno cannot (DESIGN "Deno traps").
 *
 * How it waits: one `recvmmsg` at a time runs on Deno's blocking thread pool (an FFI call
 * marked nonblocking) with MSG_WAITFORONE, so the JS thread is free while the socket is
 * idle; after it returns, the JS thread drains what else is queued with synchronous
 * MSG_DONTWAIT calls (a few rounds, then it yields to the event loop again).
 *
 * Memory the kernel writes into (datagrams, peer addresses, message headers) comes from
 * malloc, never from the JS heap: a receive in flight on the pool thread must never write
 * into memory the garbage collector may move or free. An arena is never freed: a closed
 * socket's goes back to a pool for the next bind (a handler that wrongly kept `data` reads
 * stale bytes, as with the other implementations, instead of crashing the process), and a
 * worker terminated with a receive in flight simply leaks its own.
 *
 * Layouts are those of 64-bit Linux (x86-64 and arm64 alike): iovec 16 bytes, msghdr 56,
 * mmsghdr 64 (msg_len at 56), sockaddr_in 16, sockaddr_in6 28.
 */
import { formatIpv4, formatIpv6Groups, ipVersion, parseIpv4, parseIpv6Groups } from "../../policies/net.ts";
import {
  DatagramBindError,
  DatagramSocketError,
  type DatagramHandler,
  type DatagramPeer,
  type DatagramSocket,
} from "./socket-types.ts";

// ---- The slice of Deno's FFI this file uses (typed here: the module also loads under Node). ----
type Pointer = object | null;
type DenoFfi = {
  build: { os: string };
  dlopen(path: string, symbols: Record<string, unknown>): { symbols: Record<string, (...args: unknown[]) => unknown> };
  UnsafePointer: { of(b: Uint8Array): Pointer; value(p: Pointer): bigint | number; create(v: bigint): Pointer };
  UnsafePointerView: { new (p: NonNullable<Pointer>): { getInt32(offset?: number): number }; getArrayBuffer(p: NonNullable<Pointer>, length: number): ArrayBuffer };
  permissions: { querySync(d: { name: "ffi" }): { state: string } };
};

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
const SO_RCVBUFFORCE = 33;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
const MSG_DONTWAIT = 0x40;
const MSG_WAITFORONE = 0x10000;
const SHUT_RD = 0;
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM", 4: "EINTR", 11: "EAGAIN", 13: "EACCES", 22: "EINVAL", 90: "EMSGSIZE", 97: "EAFNOSUPPORT", 98: "EADDRINUSE",
  99: "EADDRNOTAVAIL", 101: "ENETUNREACH", 105: "ENOBUFS", 111: "ECONNREFUSED", 113: "EHOSTUNREACH",
};

/** Datagrams per recvmmsg. */
const VLEN = 64;
/** Bytes per datagram slot: the largest UDP payload fits, nothing is cut (untouched pages cost no RSS). */
const SLOT = 65_536;
const SOCKADDR = 28;
const IOVEC = 16;
const MMSGHDR = 64;
/** Synchronous drains after one wait before yielding to the event loop. */
const DRAIN_ROUNDS = 8;
/**
 * A blocked receive wakes at least this often. Only a safety net: close() shuts the socket
 * down for reading, which wakes a waiting receive at once (shutdown returns ENOTCONN on an
 * unconnected UDP socket, but still wakes it, and later waits return at once).
 */
const WAIT_TIMEOUT_SECONDS = 5n;
/** The largest SO_RCVBUF asked for (the option is an int; the kernel doubles it). */
const MAX_RECV_BUFFER = 1 << 30;
const RETRY_FIRST_MS = 10;
const RETRY_MAX_MS = 1000;

type Libc = {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  getsockopt(fd: number, level: number, name: number, value: Uint8Array, length: Uint8Array): number;
  bind(fd: number, address: Uint8Array, length: number): number;
  getsockname(fd: number, address: Uint8Array, length: Uint8Array): number;
  recvmmsgWait(fd: number, msgs: Pointer, vlen: number, flags: number, timeout: null): Promise<number>;
  recvmmsgNow(fd: number, msgs: Pointer, vlen: number, flags: number, timeout: null): number;
  sendto(fd: number, data: Uint8Array, length: bigint, flags: number, address: Uint8Array, addressLength: number): bigint;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  malloc(size: bigint): Pointer;
  if_nametoindex(name: Uint8Array): number;
  if_indextoname(index: number, name: Uint8Array): Pointer;
  errno(): number;
};

let libcCache: { deno: DenoFfi; libc: Libc } | null | undefined;

/** libc through FFI, or undefined when this is not Deno on Linux with --allow-ffi. */
function loadLibc(): { deno: DenoFfi; libc: Libc } | undefined {
  if (libcCache !== undefined) return libcCache ?? undefined;
  libcCache = null;
  const deno = (globalThis as { Deno?: DenoFfi }).Deno;
  if (typeof deno?.dlopen !== "function" || deno.build.os !== "linux") return undefined;
  try {
    if (deno.permissions.querySync({ name: "ffi" }).state !== "granted") return undefined;
    const s = deno.dlopen("libc.so.6", {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
      bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
      recvmmsgWait: { name: "recvmmsg", parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32", nonblocking: true },
      recvmmsgNow: { name: "recvmmsg", parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
      sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
      shutdown: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
      malloc: { parameters: ["usize"], result: "pointer" },
      if_nametoindex: { parameters: ["buffer"], result: "u32" },
      if_indextoname: { parameters: ["u32", "buffer"], result: "pointer" },
      __errno_location: { parameters: [], result: "pointer" },
    }).symbols;
    const errnoAt = s.__errno_location as () => Pointer;
    const libc = {
      ...(s as unknown as Omit<Libc, "errno">),
      // errno of the last synchronous call on this thread.
      errno: () => {
        const p = errnoAt();
        return p === null ? 0 : new deno.UnsafePointerView(p).getInt32();
      },
    };
    libcCache = { deno, libc };
    return libcCache;
  } catch {
    return undefined;
  }
}

/** Whether bindFfiDatagramSocket can work here (Deno on Linux, --allow-ffi, libc loads). */
export function ffiDatagramAvailable(): boolean {
  return loadLibc() !== undefined;
}

const errnoName = (n: number): string => ERRNO_NAMES[n] ?? `errno ${n}`;

const ARENA_BYTES = VLEN * (SLOT + SOCKADDR + IOVEC + MMSGHDR);
/** Arenas of closed sockets, for the next bind (never freed: see the module comment). */
const arenaPool: NonNullable<Pointer>[] = [];

/**
 * The sockaddr for (address, port) on a socket of `family`; undefined when the address
 * cannot go there or the port is not one. An IPv6 zone ("fe80::1%eth0", "fe80::1%2") becomes
 * the scope id.
 */
function buildSockaddr(libc: Libc, out: Uint8Array, family: number, address: string, port: number): number | undefined {
  out.fill(0);
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return undefined;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const v4 = ipVersion(address) === 4 ? parseIpv4(address) : undefined;
  if (family === AF_INET) {
    if (v4 === undefined) return undefined;
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    view.setUint32(4, v4, false);
    return 16;
  }
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, port, false);
  if (v4 !== undefined) {
    // An IPv4 destination from a dual-stack socket: ::ffff:a.b.c.d.
    view.setUint16(18, 0xffff, false);
    view.setUint32(20, v4, false);
    return SOCKADDR;
  }
  const zoneAt = address.indexOf("%");
  const groups = ipVersion(address) === 6 ? parseIpv6Groups(zoneAt < 0 ? address : address.slice(0, zoneAt)) : undefined;
  if (groups === undefined) return undefined;
  for (let i = 0; i < 8; i++) view.setUint16(8 + 2 * i, groups[i]!, false);
  if (zoneAt >= 0) {
    const zone = address.slice(zoneAt + 1);
    const scope = /^\d{1,10}$/.test(zone) ? Number(zone) : libc.if_nametoindex(new TextEncoder().encode(`${zone}\0`));
    if (scope === 0 || scope > 0xffffffff) return undefined;
    view.setUint32(24, scope, true);
  }
  return SOCKADDR;
}

/** Binds a UDP socket through libc; rejects with DatagramBindError (code EADDRINUSE, EACCES, …). */
export function bindFfiDatagramSocket(options: { address: string; port: number; recvBufferBytes?: number }): Promise<DatagramSocket> {
  const loaded = loadLibc();
  if (loaded === undefined) return Promise.reject(new DatagramBindError("FFI sockets need Deno on Linux with --allow-ffi"));
  const { deno, libc } = loaded;
  const family = ipVersion(options.address) === 4 ? AF_INET : AF_INET6;
  const sa = new Uint8Array(SOCKADDR);
  const saLength = buildSockaddr(libc, sa, family, options.address, options.port);
  if (saLength === undefined) {
    return Promise.reject(new DatagramBindError(`cannot bind UDP ${options.address}:${options.port}: not an IP address and port`, { code: "EINVAL" }));
  }
  const fd = libc.socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Promise.reject(new DatagramBindError(`cannot create a UDP socket: ${errnoName(libc.errno())}`));
  const fail = (what: string): Promise<never> => {
    const code = errnoName(libc.errno());
    libc.close(fd);
    return Promise.reject(new DatagramBindError(`cannot bind UDP ${options.address}:${options.port}: ${what} ${code}`, { code }));
  };
  const int = (v: number) => new Uint8Array(new Int32Array([v]).buffer);
  // "::" takes IPv4 too, as Deno.listenDatagram and node:dgram do.
  if (family === AF_INET6 && libc.setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, int(options.address === "::" ? 0 : 1), 4) !== 0) return fail("IPV6_V6ONLY");
  if (options.recvBufferBytes !== undefined && options.recvBufferBytes > 0) {
    // As node:dgram's recvBufferSize: the value is asked for, the kernel doubles it. FORCE
    // passes net.core.rmem_max with CAP_NET_ADMIN (the firmware has it); else it is capped there.
    const wanted = int(Math.min(MAX_RECV_BUFFER, Math.floor(options.recvBufferBytes)));
    if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, wanted, 4) !== 0) libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, wanted, 4);
  }
  const timeout = new Uint8Array(new BigInt64Array([WAIT_TIMEOUT_SECONDS, 0n]).buffer);
  if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16) !== 0) return fail("SO_RCVTIMEO");
  if (libc.bind(fd, sa, saLength) !== 0) return fail("bind");
  const bound = new Uint8Array(SOCKADDR);
  const boundLength = new Uint8Array(new Uint32Array([SOCKADDR]).buffer);
  if (libc.getsockname(fd, bound, boundLength) !== 0) return fail("getsockname");
  const port = new DataView(bound.buffer).getUint16(2, false);
  const arena = arenaPool.pop() ?? libc.malloc(BigInt(ARENA_BYTES));
  if (arena === null) {
    libc.close(fd);
    return Promise.reject(new DatagramBindError("cannot allocate the socket's receive buffers"));
  }
  return Promise.resolve(new FfiDatagramSocket(deno, libc, fd, family, { address: options.address, port }, arena));
}

class FfiDatagramSocket implements DatagramSocket {
  readonly implementation = "deno-ffi" as const;
  readonly #libc: Libc;
  readonly #fd: number;
  readonly #family: number;
  readonly #local: DatagramPeer;
  readonly #arena: NonNullable<Pointer>;
  readonly #msgs: Pointer;
  readonly #data: Uint8Array;
  readonly #names: DataView;
  readonly #headers: DataView;
  readonly #sendTo = new Uint8Array(SOCKADDR);
  #sendKey = "";
  #sendLength = 0;
  #peers = new Map<number, string>();
  #handler: DatagramHandler | undefined;
  /** Ends the receive loop's back-off sleep early (close). */
  #wake: (() => void) | undefined;
  #errorHandler: ((error: DatagramSocketError) => void) | undefined;
  #loop: Promise<void> | undefined;
  #closing = false;
  #closed: Promise<void> | undefined;

  constructor(deno: DenoFfi, libc: Libc, fd: number, family: number, local: DatagramPeer, arena: NonNullable<Pointer>) {
    this.#libc = libc;
    this.#fd = fd;
    this.#family = family;
    this.#local = local;
    this.#arena = arena;
    const size = ARENA_BYTES;
    const buffer = deno.UnsafePointer.value(arena);
    const base = typeof buffer === "bigint" ? buffer : BigInt(buffer);
    const memory = deno.UnsafePointerView.getArrayBuffer(arena, size);
    const namesAt = VLEN * SLOT;
    const iovAt = namesAt + VLEN * SOCKADDR;
    const msgsAt = iovAt + VLEN * IOVEC;
    this.#data = new Uint8Array(memory, 0, namesAt);
    this.#names = new DataView(memory, namesAt, VLEN * SOCKADDR);
    const iov = new DataView(memory, iovAt, VLEN * IOVEC);
    this.#headers = new DataView(memory, msgsAt, VLEN * MMSGHDR);
    for (let i = 0; i < VLEN; i++) {
      iov.setBigUint64(i * IOVEC, base + BigInt(i * SLOT), true);
      iov.setBigUint64(i * IOVEC + 8, BigInt(SLOT), true);
      const h = i * MMSGHDR;
      this.#headers.setBigUint64(h, base + BigInt(namesAt + i * SOCKADDR), true); // msg_name
      this.#headers.setBigUint64(h + 16, base + BigInt(iovAt + i * IOVEC), true); // msg_iov
      this.#headers.setBigUint64(h + 24, 1n, true); // msg_iovlen
      this.#headers.setBigUint64(h + 32, 0n, true); // msg_control
      this.#headers.setBigUint64(h + 40, 0n, true); // msg_controllen
    }
    this.#msgs = deno.UnsafePointer.create(base + BigInt(msgsAt));
  }

  onMessage(handler: DatagramHandler): void {
    this.#handler = handler;
    this.#loop ??= this.#receiveLoop();
  }

  onError(handler: (error: DatagramSocketError) => void): void {
    this.#errorHandler = handler;
  }

  /** Before each receive: every header may take a full sockaddr again. */
  #resetNames(n: number): void {
    for (let i = 0; i < n; i++) this.#headers.setUint32(i * MMSGHDR + 8, SOCKADDR, true);
  }

  #reportError(error: DatagramSocketError): void {
    try {
      this.#errorHandler?.(error);
    } catch {
      // A throwing error handler must not end the receive loop.
    }
  }

  async #receiveLoop(): Promise<void> {
    let retryMs = RETRY_FIRST_MS;
    while (!this.#closing) {
      this.#resetNames(VLEN);
      const started = performance.now();
      let n = await this.#libc.recvmmsgWait(this.#fd, this.#msgs, VLEN, MSG_WAITFORONE, null);
      if (this.#closing) return;
      // A slow failure is the wait timing out (SO_RCVTIMEO): wait again.
      if (n < 0 && performance.now() - started >= 100) continue;
      // A fast one may be an error. Its errno belongs to the pool thread: ask again here,
      // synchronously, to learn it.
      if (n < 0) n = this.#receiveNow();
      if (n < 0) {
        const code = errnoName(this.#libc.errno());
        if (code === "EAGAIN" || code === "EINTR") continue;
        this.#reportError(new DatagramSocketError(`UDP receive failed: ${code}`, { code }));
        await this.#sleep(retryMs);
        retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
        continue;
      }
      retryMs = RETRY_FIRST_MS;
      for (let round = 0; n > 0 && !this.#closing; round++) {
        this.#deliver(n);
        if (round === DRAIN_ROUNDS) break;
        n = this.#receiveNow();
      }
    }
  }

  /** What is queued now, without waiting (on this thread: errno is ours to read). */
  #receiveNow(): number {
    this.#resetNames(VLEN);
    return this.#libc.recvmmsgNow(this.#fd, this.#msgs, VLEN, MSG_DONTWAIT, null);
  }

  /** The back-off after a failed receive; close() ends it early. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #deliver(n: number): void {
    for (let i = 0; i < n && !this.#closing; i++) {
      // No sender address: not a datagram from anyone (what a receive cut short by shutdown returns).
      if (this.#headers.getUint32(i * MMSGHDR + 8, true) === 0) continue;
      const length = this.#headers.getUint32(i * MMSGHDR + 56, true);
      const data = this.#data.subarray(i * SLOT, i * SLOT + length);
      const peer = this.#peerOf(i);
      try {
        this.#handler?.(data, peer);
      } catch (err) {
        // A handler bug must not stop the receive loop: report it and go on.
        this.#reportError(new DatagramSocketError("datagram handler threw", { cause: err }));
      }
    }
  }

  /** The sender of slot i; IPv4 (also IPv4-mapped) as a dotted quad, its text kept for the next datagram. */
  #peerOf(i: number): DatagramPeer {
    const v = this.#names;
    const at = i * SOCKADDR;
    const port = v.getUint16(at + 2, false);
    let v4: number | undefined;
    if (v.getUint16(at, true) === AF_INET) v4 = v.getUint32(at + 4, false);
    else if (v.getUint32(at + 8) === 0 && v.getUint32(at + 12) === 0 && v.getUint32(at + 16, false) === 0xffff) v4 = v.getUint32(at + 20, false);
    if (v4 !== undefined) {
      let address = this.#peers.get(v4);
      if (address === undefined) {
        if (this.#peers.size >= 1024) this.#peers = new Map();
        address = formatIpv4(v4);
        this.#peers.set(v4, address);
      }
      return { address, port };
    }
    const groups = new Uint16Array(8);
    for (let k = 0; k < 8; k++) groups[k] = v.getUint16(at + 8 + 2 * k, false);
    const scope = v.getUint32(at + 24, true);
    // A link-local peer keeps its zone, or a reply could leave by the wrong link.
    return { address: scope === 0 ? formatIpv6Groups(groups) : `${formatIpv6Groups(groups)}%${this.#zoneName(scope)}`, port };
  }

  #zoneName(index: number): string {
    const name = new Uint8Array(16);
    if (this.#libc.if_indextoname(index, name) === null) return String(index);
    const end = name.indexOf(0);
    return new TextDecoder().decode(name.subarray(0, end < 0 ? name.length : end));
  }

  send(data: Uint8Array, port: number, address: string): Promise<void> {
    // After close the descriptor may already be someone else's.
    if (this.#closing) return Promise.reject(new DatagramSocketError(`cannot send to ${address}:${port}: the socket is closed`, { code: "EBADF" }));
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
      return Promise.reject(new DatagramSocketError(`cannot send to ${address}:${port}: not a port`, { code: "ERR_SOCKET_BAD_PORT" }));
    }
    const key = `${address}|${port}`;
    if (key !== this.#sendKey) {
      const length = buildSockaddr(this.#libc, this.#sendTo, this.#family, address, port);
      if (length === undefined) {
        this.#sendKey = "";
        return Promise.reject(new DatagramSocketError(`cannot send to ${address}:${port}: not an address this socket can reach`, { code: "EAFNOSUPPORT" }));
      }
      this.#sendKey = key;
      this.#sendLength = length;
    }
    // Never blocks the thread: a full send buffer is an error (ENOBUFS / EAGAIN), as a lost datagram would be.
    const r = this.#libc.sendto(this.#fd, data, BigInt(data.length), MSG_DONTWAIT, this.#sendTo, this.#sendLength);
    if (r < 0n) {
      const code = errnoName(this.#libc.errno());
      return Promise.reject(new DatagramSocketError(`cannot send to ${address}:${port}: ${code}`, { code }));
    }
    return Promise.resolve();
  }

  local(): DatagramPeer {
    return this.#local;
  }

  recvBufferBytes(): number | undefined {
    if (this.#closing) return undefined;
    const value = new Uint8Array(4);
    const length = new Uint8Array(new Uint32Array([4]).buffer);
    if (this.#libc.getsockopt(this.#fd, SOL_SOCKET, SO_RCVBUF, value, length) !== 0) return undefined;
    return new DataView(value.buffer).getInt32(0, true);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      // Wakes a receive blocked on the pool thread (it returns at once), then the fd can go.
      this.#libc.shutdown(this.#fd, SHUT_RD);
      this.#wake?.();
      try {
        await this.#loop;
      } finally {
        this.#libc.close(this.#fd);
        // No receive is in flight once the loop has ended: the next bind may reuse the arena.
        arenaPool.push(this.#arena);
      }
    })();
    return this.#closed;
  }
}
