/**
 * The box's one web listener, on its LAN-side management address, port 80. Two things live
 * there, told apart by the Host header the browser sends:
 *
 * - the admin page (webui/) for the box's own names: its addresses, `sekisho.home.arpa`,
 *   and loopback names (a port forward on the box, as the demo uses);
 * - the block page for every other name: the DNS filter answered that name with this
 *   address, so whoever asks for it is a browser sent here instead of a blocked site.
 *
 * The nft input chain lets only the LAN reach this port, and the server binds the
 * management address only. One implementation per runtime (Deno.serve on the box,
 * @hono/node-server under Node), behind one small interface.
 */
import { createAdaptorServer } from "@hono/node-server";
import type { AddressInfo } from "node:net";
import { normalisePeerAddress } from "../logs/socket-types.ts";

/** Who sent the request: the TCP peer's address (never a header: those are the client's to forge). */
export type Peer = { address: string };
export type WebHandler = (request: Request, peer: Peer) => Response | Promise<Response>;

export type ServeOptions = { address: string; port: number; handler: WebHandler };
export type WebServer = { port: number; close(): Promise<void> };

/** The host part of a Host header, lower case, without port or brackets; "" when absent. */
export function hostOf(host: string | null | undefined): string {
  if (!host) return "";
  const h = host.trim().slice(0, 260).toLowerCase();
  const m = /^\[([^\]]*)\]/.exec(h);
  return m ? m[1]! : h.replace(/:\d+$/, "").replace(/\.$/, "");
}

/** The names under which a request is for the admin page rather than the block page. */
export function adminHosts(boxAddresses: readonly (string | undefined)[], boxName: string): Set<string> {
  const hosts = new Set(["localhost", "127.0.0.1", "::1", boxName]);
  for (const a of boxAddresses) if (a) hosts.add(a.toLowerCase());
  return hosts;
}

/**
 * Routes a request: admin hosts to `admin`, everything else to `blockPage` with the site's
 * name. With no admin page (not started), the box's own names get the block page's
 * handler too, which then explains nothing was blocked.
 */
export function routeByHost(opts: {
  hosts: ReadonlySet<string>;
  admin: WebHandler | undefined;
  blockPage: (site: string, request: Request) => Response | Promise<Response>;
}): WebHandler {
  return (request, peer) => {
    const site = hostOf(request.headers.get("host"));
    if (opts.admin && (site === "" || opts.hosts.has(site))) return opts.admin(request, peer);
    return opts.blockPage(site, request);
  };
}

type DenoServeApi = {
  serve(
    options: { hostname: string; port: number; onListen?: (addr: { port: number }) => void; onError?: (e: unknown) => Response },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Response | Promise<Response>,
  ): { finished: Promise<void>; shutdown(): Promise<void>; addr: { port: number } };
};

const INTERNAL_ERROR = () => new Response("internal error", { status: 500, headers: { "content-type": "text/plain; charset=utf-8" } });

/** Starts the listener with this runtime's server; rejects when the address cannot be bound. */
export async function serveWeb(options: ServeOptions): Promise<WebServer> {
  const deno = (globalThis as { Deno?: Partial<DenoServeApi> }).Deno;
  if (typeof deno?.serve === "function") return serveDeno(deno as DenoServeApi, options);
  return serveNode(options);
}

function serveDeno(deno: DenoServeApi, { address, port, handler }: ServeOptions): Promise<WebServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = deno.serve({
        hostname: address, port,
        onListen: (addr) => resolve({ port: addr.port, close: () => server.shutdown() }),
        // A handler that throws must not leak a stack trace to the LAN.
        onError: INTERNAL_ERROR,
      }, (request, info) => handler(request, { address: normalisePeerAddress(info.remoteAddr.hostname) }));
    } catch (e) {
      reject(e);
    }
  });
}

function serveNode({ address, port, handler }: ServeOptions): Promise<WebServer> {
  const server = createAdaptorServer({
    fetch: async (request: Request, env: { incoming: { socket: { remoteAddress?: string } } }) => {
      try {
        return await handler(request, { address: normalisePeerAddress(env.incoming.socket.remoteAddress ?? "") });
      } catch {
        return INTERNAL_ERROR();
      }
    },
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, address, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    });
  });
}
