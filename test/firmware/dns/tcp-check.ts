// Run by tcp.test.ts under Deno: the TCP scenario on Deno's own sockets, one JSON report on stdout.
import { runTcpScenario } from "./tcp-scenario.ts";

console.log(JSON.stringify(await runTcpScenario()));
