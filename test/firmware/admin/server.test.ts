import { afterEach, describe, expect, it } from "vitest";
import { adminHosts, hostOf, routeByHost, serveWeb, type WebServer } from "../../../firmware/admin/server.ts";

describe("the management listener's routing", () => {
  it("takes the host from the Host header: no port, no brackets, lower case, bounded", () => {
    expect(hostOf("Evil.Example.Test:8080")).toBe("evil.example.test");
    expect(hostOf("[2001:db8::1]:80")).toBe("2001:db8::1");
    expect(hostOf("sekisho.home.arpa.")).toBe("sekisho.home.arpa");
    expect(hostOf(undefined)).toBe("");
    expect(hostOf("a".repeat(5000)).length).toBeLessThanOrEqual(260);
  });

  const route = routeByHost({
    hosts: adminHosts(["192.0.2.1", "2001:DB8::1", undefined], "sekisho.home.arpa"),
    admin: () => new Response("admin"),
    blockPage: (site) => new Response(`block ${site}`),
  });
  const ask = async (host: string | undefined) => {
    const headers: Record<string, string> = host === undefined ? {} : { host };
    return (await route(new Request("http://x/", { headers }), { address: "192.0.2.10" })).text();
  };

  it("sends the box's own names to the admin page and every other name to the block page", async () => {
    expect(await ask("192.0.2.1")).toBe("admin");
    expect(await ask("[2001:db8::1]")).toBe("admin");
    expect(await ask("SEKISHO.home.arpa")).toBe("admin");
    expect(await ask("127.0.0.1:8080")).toBe("admin");
    expect(await ask("evil.example.test")).toBe("block evil.example.test");
    // A name that merely contains the box's name is someone else's site.
    expect(await ask("sekisho.home.arpa.evil.example.test")).toBe("block sekisho.home.arpa.evil.example.test");
  });
});

describe("serveWeb (Node)", () => {
  let server: WebServer | undefined;
  afterEach(async () => { await server?.close(); server = undefined; });

  it("serves the handler on the address, tells it the TCP peer, and hides a handler's crash", async () => {
    server = await serveWeb({
      address: "127.0.0.1", port: 0,
      handler: (req, peer) => {
        if (new URL(req.url).pathname === "/boom") throw new Error("secret detail");
        return new Response(`${peer.address} ${req.headers.get("x-forwarded-for") ?? ""}`);
      },
    });
    const base = `http://127.0.0.1:${server.port}`;
    // The peer is the socket's, whatever a header claims.
    expect(await (await fetch(`${base}/`, { headers: { "x-forwarded-for": "203.0.113.9" } })).text()).toBe("127.0.0.1 203.0.113.9");
    const boom = await fetch(`${base}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain("secret");
  });

  it("rejects when the address cannot be bound", async () => {
    server = await serveWeb({ address: "127.0.0.1", port: 0, handler: () => new Response("") });
    await expect(serveWeb({ address: "127.0.0.1", port: server.port, handler: () => new Response("") })).rejects.toThrow();
  });
});
