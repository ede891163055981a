/**
 * The DNS filter engine on the calling thread: a DnsServer (socket, filter, cache,
 * upstreams), compiled from the policy's DNS section, the overrides and the kept list files.
 * Under Node (tests) the firmware uses it directly; on the box (Deno) server-thread.ts runs
 * it on a worker of its own and threaded-server.ts gives the main thread the same calls.
 */
import {
  compileDnsFilter, explainName, type ClientIdentity, type CompileInput, type ListReport, type NameExplanation,
} from "./filter.ts";
import { readStoredLists } from "./list-file.ts";
import type { DnsQueryRecord } from "./query-log.ts";
import { reloadDnsFilter } from "./reload.ts";
import { DnsServer } from "./server.ts";
import type {
  DnsEngine, DnsEngineConfig, DnsFilterSpec, DnsStats, EngineError, EngineReloadOutcome, MacEntries,
} from "./thread-protocol.ts";
import type { Upstream } from "./upstream.ts";

export type EngineStart =
  | { ok: true; engine: LocalDnsEngine; names: number; bytes: number; lists: readonly ListReport[] }
  | { ok: false; error: EngineError };

export class LocalDnsEngine implements DnsEngine {
  /** The inventory's IP → MAC table, shared with the server's `macOf`. */
  readonly #macs: { table: Map<string, string> };
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(private readonly server: DnsServer, private readonly config: DnsEngineConfig, macs: { table: Map<string, string> }) {
    this.#macs = macs;
  }

  /**
   * Compiles the filter (a list never fetched is left out and reported, as on every reload)
   * and starts serving; an unusable policy or a port that cannot be bound is a value.
   */
  static async start(config: DnsEngineConfig, spec: DnsFilterSpec, macs: MacEntries = []): Promise<EngineStart> {
    const compiled = compileDnsFilter(await compileInput(config, spec), { allowPartial: true });
    if (!compiled.ok) return { ok: false, error: compiled.error };
    const table = { table: new Map<string, string>() };
    const server = new DnsServer({
      listen: config.listen, upstreams: config.upstreams, filter: compiled.filter,
      macOf: (ip) => table.table.get(ip),
      ...(config.recvBufferBytes === undefined ? {} : { recvBufferBytes: config.recvBufferBytes }),
      ...(config.blockTtl === undefined ? {} : { blockTtl: config.blockTtl }),
    });
    const self = new LocalDnsEngine(server, config, table);
    self.setMacs(macs);
    try {
      await server.start();
    } catch (e) {
      return { ok: false, error: { kind: "bind", message: (e as Error).message } };
    }
    return { ok: true, engine: self, names: compiled.filter.names, bytes: compiled.filter.bytes, lists: compiled.filter.lists };
  }

  reload(spec: DnsFilterSpec, upstreams: readonly Upstream[]): Promise<EngineReloadOutcome> {
    // One at a time: each compiles from what the one before left in force.
    const r = this.#serial.then(async (): Promise<EngineReloadOutcome> => {
      const o = await reloadDnsFilter(this.server, await compileInput(this.config, spec), { allowPartial: true });
      if (o.ok) await this.server.setUpstreams(upstreams);
      return o;
    });
    this.#serial = r.catch(() => undefined);
    return r;
  }

  explain(name: string, client?: ClientIdentity): Promise<NameExplanation> {
    return Promise.resolve(this.explainNow(name, client));
  }

  /** The same, synchronously (the worker answers from its own filter). */
  explainNow(name: string, client?: ClientIdentity): NameExplanation {
    const mac = client && client.mac === undefined ? this.#macs.table.get(client.ip) : undefined;
    const c = client && mac !== undefined ? { ...client, mac } : client;
    return explainName(this.server.filter, name, c);
  }

  setMacs(entries: MacEntries): void {
    const next = new Map<string, string>(entries);
    const old = this.#macs.table;
    if (next.size === old.size && [...next].every(([ip, mac]) => old.get(ip) === mac)) return;
    this.#macs.table = next;
    // Clients' groups were looked up with the old table: look them up again.
    this.server.forgetClients();
  }

  drainLog(max?: number): DnsQueryRecord[] {
    return this.server.drainLog(max);
  }

  stats(): DnsStats {
    return this.server.stats();
  }

  address(): { address: string; port: number } {
    return this.server.address();
  }

  async stop(): Promise<void> {
    await this.#serial;
    await this.server.stop();
  }

  /** Which datagram socket implementation serves UDP. */
  get socketImplementation(): string | undefined {
    return this.server.socketImplementation;
  }
}

async function compileInput(config: DnsEngineConfig, spec: DnsFilterSpec): Promise<CompileInput> {
  return {
    policy: spec.policy, overrides: spec.overrides, box: config.box,
    listTexts: readStoredLists(spec.policy.lists, config.listDir),
  };
}
