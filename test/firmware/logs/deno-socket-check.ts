// Run by socket.test.ts under Deno (the box's runtime): exercises bindDatagramSocket there
// and prints one JSON report on stdout. With --allow-ffi it must pick libc through FFI (and
// set the receive buffer it was asked for); with --unstable-net only, Deno.listenDatagram;
// with neither, node:dgram (and never set a receive-buffer size, DESIGN "Deno traps").
import { bindDatagramSocket, DatagramBindError, DatagramSocketError } from "../../../firmware/logs/socket.ts";

const deadline = Date.now() + 5000;
// rx batches (as the log receiver does); the others do not, so the two kinds talk to each other.
const rx = await bindDatagramSocket({ address: "127.0.0.1", port: 0, recvBufferBytes: 4 * 1024 * 1024, batching: true });
const tx = await bindDatagramSocket({ address: "127.0.0.1", port: 0 });
const got: { text: string; peer: { address: string; port: number } }[] = [];
rx.onMessage((data, peer) => {
  got.push({ text: new TextDecoder().decode(data), peer: { address: peer.address, port: peer.port } });
});
const { port } = rx.local();
const sent = ["one", "two", "x".repeat(60_000)];
for (const s of sent) await tx.send(new TextEncoder().encode(s), port, "127.0.0.1");
while (got.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

let bindError: string | undefined;
try {
  await bindDatagramSocket({ address: "127.0.0.1", port });
} catch (err) {
  bindError = err instanceof DatagramBindError ? `DatagramBindError ${err.code ?? ""}` : String(err);
}
let sendError: string | undefined;
try {
  await tx.send(new Uint8Array(70_000), port, "127.0.0.1");
} catch (err) {
  sendError = err instanceof DatagramSocketError ? "DatagramSocketError" : String(err);
}
const dual = await bindDatagramSocket({ address: "::", port: 0, batching: true });
let dualPeer: string | undefined;
dual.onMessage((_d, peer) => {
  dualPeer = peer.address;
});
await tx.send(new Uint8Array([1]), dual.local().port, "127.0.0.1");
while (dualPeer === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
// IPv6 both ways: from ::1 to the dual-stack socket, and its reply back.
const tx6 = await bindDatagramSocket({ address: "::1", port: 0 });
let v6Peer: string | undefined;
let v6Reply: string | undefined;
dual.onMessage((d, peer) => {
  v6Peer = peer.address;
  void dual.send(d, peer.port, peer.address);
});
tx6.onMessage((d) => {
  v6Reply = new TextDecoder().decode(d);
});
await tx6.send(new TextEncoder().encode("six"), dual.local().port, "::1");
while (v6Reply === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
const tx6Implementation = tx6.implementation;
await tx6.close();

// A burst of more than two recvmmsg calls hold (64 each), so the FFI socket's drain rounds
// run; small enough for the kernel's default buffer (the Deno.listenDatagram socket's).
let burst = 0;
rx.onMessage(() => {
  burst++;
});
for (let i = 0; i < 150; i++) await tx.send(new Uint8Array([i & 0xff]), port, "127.0.0.1");
while (burst < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
let badPort: string | undefined;
try {
  await tx.send(new Uint8Array([1]), 70_000, "127.0.0.1");
} catch (err) {
  badPort = err instanceof DatagramSocketError ? "DatagramSocketError" : String(err);
}
const recvBufferBytes = rx.recvBufferBytes() ?? null;
// Closing a socket whose receive is waiting must not wait for a timeout.
const closeStarted = performance.now();
await rx.close();
const closeFast = performance.now() - closeStarted < 500;
let sendAfterClose: string | undefined;
try {
  await rx.send(new Uint8Array([1]), tx.local().port, "127.0.0.1");
} catch (err) {
  sendAfterClose = err instanceof DatagramSocketError ? "DatagramSocketError" : String(err);
}
await rx.close(); // idempotent
await tx.close();
await dual.close();
console.log(JSON.stringify({
  implementation: rx.implementation,
  others: [tx.implementation, dual.implementation, tx6Implementation],
  recvBufferBytes,
  received: got.map((g) => (g.text.length > 10 ? `${g.text.length} chars` : g.text)),
  peerIsSender: got.every((g) => g.peer.address === "127.0.0.1" && g.peer.port === tx.local().port),
  bindError,
  sendError,
  dualPeer,
  v6Peer,
  v6Reply,
  burst,
  badPort,
  closeFast,
  sendAfterClose,
}));
