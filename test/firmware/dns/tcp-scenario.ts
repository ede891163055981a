// The TCP interface's behaviour (firmware/dns/tcp.ts), as one scenario that runs on either
// runtime: tcp.test.ts runs it under Node directly and under Deno through tcp-check.ts.
import { connectTcp, listenTcp, type TcpConnection } from "../../../firmware/dns/tcp.ts";

export type TcpScenarioReport = {
  echoed: string;
  remoteIsLoopback: boolean;
  idleClosedWithinMs: number | null;
  refusedBeyondMax: boolean;
  connectError: string | null;
  closedAfterListenerClose: boolean;
};

const enc = new TextEncoder();
const dec = new TextDecoder();

function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/** Echo server with an idle timeout and room for 2 connections; a client of each kind. */
export async function runTcpScenario(): Promise<TcpScenarioReport> {
  const served: TcpConnection[] = [];
  const listener = await listenTcp({ address: "127.0.0.1", port: 0, maxConnections: 2 }, (c) => {
    served.push(c);
    c.setIdleTimeout(300, () => c.destroy());
    c.onData((chunk) => c.write(chunk));
  });
  try {
    // Echo, in several writes, back in order.
    const a = await connectTcp("127.0.0.1", listener.port);
    let echoed = "";
    a.onData((chunk) => { echoed += dec.decode(chunk); });
    for (const part of ["one ", "two ", "x".repeat(100_000)]) a.write(enc.encode(part));
    await until("the echo", () => echoed.length === 8 + 100_000);
    const remoteIsLoopback = served[0]?.remoteAddress.endsWith("127.0.0.1") ?? false;

    // Idle: the server ends a connection that says nothing.
    let aClosedAt: number | undefined;
    a.onClose(() => { aClosedAt = Date.now(); });
    const quietFrom = Date.now();
    await until("the idle close", () => aClosedAt !== undefined, 3000);
    const idleClosedWithinMs = aClosedAt === undefined ? null : aClosedAt - quietFrom;

    // Room for two: a third is closed at once.
    const b = await connectTcp("127.0.0.1", listener.port);
    const c = await connectTcp("127.0.0.1", listener.port);
    b.onData(() => {});
    c.onData(() => {});
    await until("two served", () => served.filter((s) => !s.destroyed).length === 2);
    const d = await connectTcp("127.0.0.1", listener.port).catch(() => undefined);
    let dClosed = d === undefined;
    d?.onClose(() => { dClosed = true; });
    d?.onData(() => {});
    d?.write(enc.encode("hello?"));
    await until("the third closed", () => dClosed);

    // A port nobody listens on: the reason comes back.
    const probe = await listenTcp({ address: "127.0.0.1", port: 0, maxConnections: 1 }, () => {});
    const freePort = probe.port;
    await probe.close();
    const connectError = await connectTcp("127.0.0.1", freePort).then((x) => { x.destroy(); return null; }, (e: unknown) => String((e as Error).message ?? e));

    // The listener closes; its open connections stay until their owner ends them.
    b.destroy();
    c.destroy();
    for (const s of served) s.destroy();
    await listener.close();
    const closedAfterListenerClose = await connectTcp("127.0.0.1", listener.port).then((x) => { x.destroy(); return false; }, () => true);
    return { echoed: `${echoed.slice(0, 8)}+${echoed.length - 8}`, remoteIsLoopback, idleClosedWithinMs, refusedBeyondMax: dClosed, connectError, closedAfterListenerClose };
  } finally {
    for (const s of served) s.destroy();
    await listener.close();
  }
}
