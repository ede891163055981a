import { describe, expect, it } from "vitest";
import { externalClosure, staticImports } from "../../image/bundle-check.ts";

// Shapes esbuild (deno bundle --minify --code-splitting) writes, taken from build/.
const WORKER = 'import{h as i,j as d}from"../chunk-A.js";import"../chunk-B.js";import"../chunk-C.js";var l=25;a.onmessage=o=>{}';
const CHUNK_A = 'import{a as pe}from"./chunk-B.js";import*as N from"node:net";import{c as ot,d as $e}from"./chunk-C.js";function j(t){return t}';
const CHUNK_B = 'import{x}from"./chunk-C.js";async function f(){let{bindNode:s}=await import("./socket-node-Z.js");return s}export{f as a};';
const CHUNK_C = 'var q=1;export{q as c,q as d};';
const SOCKET_NODE = 'import{createSocket as c}from"node:dgram";export{c as bindNode};';

describe("the bundle's import check (image/bundle-check.ts)", () => {
  it("reads static imports and exports-from, not dynamic import()", () => {
    expect(staticImports(WORKER)).toEqual(["../chunk-A.js", "../chunk-B.js", "../chunk-C.js"]);
    expect(staticImports(CHUNK_A)).toEqual(["./chunk-B.js", "node:net", "./chunk-C.js"]);
    expect(staticImports(CHUNK_B)).toEqual(["./chunk-C.js"]);
    expect(staticImports('export*from"./y.js";export{a}from"node:fs";')).toEqual(["./y.js", "node:fs"]);
  });

  it("follows chunks to everything outside the bundle a worker loads before it runs", () => {
    const files: Record<string, string> = {
      "/b/dns/worker.js": WORKER, "/b/chunk-A.js": CHUNK_A, "/b/chunk-B.js": CHUNK_B, "/b/chunk-C.js": CHUNK_C, "/b/socket-node-Z.js": SOCKET_NODE,
    };
    const read = (f: string) => {
      const text = files[f];
      if (text === undefined) throw new Error(`no ${f}`);
      return text;
    };
    // node:dgram is behind a dynamic import: not loaded at start, so not in the closure.
    expect([...externalClosure("/b/dns/worker.js", read)]).toEqual(["node:net"]);
    expect([...externalClosure("/b/socket-node-Z.js", read)]).toEqual(["node:dgram"]);
  });
});
