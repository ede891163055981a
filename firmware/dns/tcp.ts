/**
 * The TCP the DNS filter needs (RFC 7766: clients that retry over TCP, and the filter's own
 * retry of a truncated upstream answer) behind one small interface, with Deno's own sockets
 * under Deno and node:net under Node (the tests). Not node:net everywhere: importing it loads
 * Deno's Node compatibility code into the filter's worker, about 5 MB of its isolate for a
 * path few queries take (README "Memory"). node:net is imported only when it is used.
 */

export interface TcpConnection {
  /** The peer's address ("::ffff:" kept as the runtime reports it). */
  readonly remoteAddress: string;
  readonly destroyed: boolean;
  /** The one data handler (chunks are the handler's to keep). Reading starts when it is set. */
  onData(handler: (chunk: Uint8Array) => void): void;
  /** Adds a handler called once, when the connection has ended for any reason (peer, error, destroy). */
  onClose(handler: () => void): void;
  /** Queues bytes; a failed write ends the connection. */
  write(bytes: Uint8Array): void;
  /** Ends the connection after `ms` without data in either direction (`onIdle` decides). */
  setIdleTimeout(ms: number, onIdle: () => void): void;
  destroy(): void;
}

export interface TcpListener {
  readonly port: number;
  /** Stops accepting (open connections stay: their owner ends them). */
  close(): Promise<void>;
}

export type ListenTcpOptions = { address: string; port: number; maxConnections: number };

// ---- Deno ----------------------------------------------------------------------------

type DenoConn = {
  readonly remoteAddr: { hostname?: string };
  read(buf: Uint8Array): Promise<number | null>;
  write(buf: Uint8Array): Promise<number>;
  close(): void;
};
type DenoListener = { readonly addr: { port?: number }; accept(): Promise<DenoConn>; close(): void };
type DenoNet = {
  listen(options: { hostname: string; port: number; transport: "tcp" }): DenoListener;
  connect(options: { hostname: string; port: number; transport: "tcp" }): Promise<DenoConn>;
};

function denoNet(): DenoNet | undefined {
  const deno = (globalThis as { Deno?: Partial<DenoNet> }).Deno;
  return typeof deno?.listen === "function" && typeof deno.connect === "function" ? (deno as DenoNet) : undefined;
}

const READ_BYTES = 16 << 10;
/** After a failed accept (out of descriptors), wait before the next: no busy loop. */
const ACCEPT_RETRY_MS = 50;

class DenoTcpConnection implements TcpConnection {
  readonly remoteAddress: string;
  #destroyed = false;
  #onData: ((chunk: Uint8Array) => void) | undefined;
  readonly #onClose: (() => void)[] = [];
  #writing: Promise<void> = Promise.resolve();
  #idleMs = 0;
  #onIdle: (() => void) | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly conn: DenoConn) {
    this.remoteAddress = conn.remoteAddr.hostname ?? "";
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  onData(handler: (chunk: Uint8Array) => void): void {
    const first = this.#onData === undefined;
    this.#onData = handler;
    if (first) void this.#readLoop();
  }

  onClose(handler: () => void): void {
    this.#onClose.push(handler);
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(READ_BYTES);
    try {
      while (!this.#destroyed) {
        const n = await this.conn.read(buf);
        if (n === null || this.#destroyed) break;
        this.#touch();
        this.#onData?.(buf.slice(0, n));
      }
    } catch {
      // Reset by the peer, or closed under a pending read: the end either way.
    }
    this.destroy();
  }

  write(bytes: Uint8Array): void {
    if (this.#destroyed) return;
    this.#touch();
    this.#writing = this.#writing.then(async () => {
      for (let off = 0; off < bytes.length && !this.#destroyed;) off += await this.conn.write(bytes.subarray(off));
    }).catch(() => this.destroy());
  }

  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.#idleMs = ms;
    this.#onIdle = onIdle;
    this.#touch();
  }

  #touch(): void {
    if (this.#idleMs <= 0 || this.#destroyed) return;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#onIdle?.(), this.#idleMs);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    for (const handler of this.#onClose) handler();
  }
}

function listenDeno(net: DenoNet, o: ListenTcpOptions, onConnection: (c: TcpConnection) => void): TcpListener {
  const listener = net.listen({ hostname: o.address, port: o.port, transport: "tcp" });
  let closing = false;
  let open = 0;
  const loop = (async () => {
    while (!closing) {
      let conn: DenoConn;
      try {
        conn = await listener.accept();
      } catch {
        if (closing) return;
        await new Promise((r) => setTimeout(r, ACCEPT_RETRY_MS));
        continue;
      }
      if (open >= o.maxConnections) {
        conn.close();
        continue;
      }
      open++;
      const c = new DenoTcpConnection(conn);
      c.onClose(() => open--);
      try {
        onConnection(c);
      } catch {
        c.destroy();
      }
    }
  })();
  return {
    port: listener.addr.port ?? o.port,
    async close() {
      closing = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      await loop;
    },
  };
}

// ---- Node ----------------------------------------------------------------------------

type NodeSocket = import("node:net").Socket;

class NodeTcpConnection implements TcpConnection {
  readonly remoteAddress: string;

  constructor(private readonly sock: NodeSocket) {
    this.remoteAddress = sock.remoteAddress ?? "";
    sock.on("error", () => sock.destroy());
  }

  get destroyed(): boolean {
    return this.sock.destroyed;
  }

  onData(handler: (chunk: Uint8Array) => void): void {
    this.sock.on("data", handler);
  }

  onClose(handler: () => void): void {
    this.sock.once("close", handler);
  }

  write(bytes: Uint8Array): void {
    if (!this.sock.destroyed) this.sock.write(bytes);
  }

  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.sock.setTimeout(ms, onIdle);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

// ---- Either --------------------------------------------------------------------------

/** Listens on address:port (0: the kernel chooses); rejects when it cannot (in use, not permitted). */
export async function listenTcp(o: ListenTcpOptions, onConnection: (c: TcpConnection) => void): Promise<TcpListener> {
  const deno = denoNet();
  if (deno) return listenDeno(deno, o, onConnection);
  const { createServer } = await import("node:net");
  const server = createServer((sock) => onConnection(new NodeTcpConnection(sock)));
  server.maxConnections = o.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: o.address, port: o.port, exclusive: true }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : o.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Connects to address:port; rejects with the reason when it cannot. */
export async function connectTcp(address: string, port: number): Promise<TcpConnection> {
  const deno = denoNet();
  if (deno) return new DenoTcpConnection(await deno.connect({ hostname: address, port, transport: "tcp" }));
  const { connect } = await import("node:net");
  return new Promise((resolve, reject) => {
    const sock = connect({ host: address, port });
    const failed = (e: Error) => reject(e);
    sock.once("error", failed);
    sock.once("connect", () => {
      sock.off("error", failed);
      resolve(new NodeTcpConnection(sock));
    });
  });
}
