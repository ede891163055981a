import { describe, expect, it } from "vitest";
import { describeCommand, findFailedCommand, summariseNftMessage } from "../../../firmware/nftables/failure.ts";
import type { Command } from "../../../firmware/nftables/types.ts";

// stderr as nft 1.0.6 printed it for `nft -j -f FILE` (the driver test checks the same
// cases against the real nft).
const PARSE_ERROR = `internal:0:0-0: Error: Invalid set flag at index 1.

internal:0:0-0: Error: Parsing command array at index 3 failed.

`;
const KERNEL_ERRORS = `internal:0:0-0: Error: Could not process rule: File exists

internal:0:0-0: Error: Could not process rule: File exists

internal:0:0-0: Error: Could not process rule: No such file or directory

`;

const table: Command = { add: { table: { family: "inet", name: "t" } } };
const batch: Command[] = [
  table,
  { add: { chain: { family: "inet", table: "t", name: "c" } } },
  { add: { counter: { family: "inet", table: "t", name: "n" } } },
  { add: { set: { family: "inet", table: "t", name: "s", type: "ipv4_addr", flags: ["interval"] } } },
];

describe("findFailedCommand", () => {
  it("maps nft's command index back to our command", () => {
    expect(findFailedCommand(PARSE_ERROR, batch)).toEqual({ index: 3, command: batch[3] });
  });

  it("does not mistake an index inside a command for the command's", () => {
    expect(findFailedCommand("internal:0:0-0: Error: Parsing expr array at index 0 failed.\n", batch)).toBeUndefined();
  });

  it("says nothing when nft says nothing, or names a command we did not send", () => {
    expect(findFailedCommand(KERNEL_ERRORS, batch)).toBeUndefined();
    expect(findFailedCommand(PARSE_ERROR, batch.slice(0, 3))).toBeUndefined();
    expect(findFailedCommand("", batch)).toBeUndefined();
  });
});

describe("summariseNftMessage", () => {
  it("drops locations, blank and repeated lines", () => {
    expect(summariseNftMessage(PARSE_ERROR)).toBe(
      "Error: Invalid set flag at index 1. / Error: Parsing command array at index 3 failed.",
    );
    expect(summariseNftMessage(KERNEL_ERRORS)).toBe(
      "Error: Could not process rule: File exists / Error: Could not process rule: No such file or directory",
    );
  });

  it("drops caret lines and keeps the text nft echoes", () => {
    const text = "Error: No such file or directory\nlist table inet nope\n                ^^^^\n";
    expect(summariseNftMessage(text)).toBe("Error: No such file or directory / list table inet nope");
    expect(summariseNftMessage("")).toBe("(no message)");
    expect(summariseNftMessage("x".repeat(5000))).toHaveLength(1001);
  });
});

describe("describeCommand", () => {
  it("names the object a command touches", () => {
    expect(describeCommand(table)).toBe("add table inet t");
    expect(describeCommand(batch[1]!)).toBe("add chain inet t c");
    expect(describeCommand({ create: { counter: { family: "inet", table: "t", name: "n" } } })).toBe("create counter inet t n");
    expect(
      describeCommand({ delete: { rule: { family: "inet", table: "t", chain: "c", handle: 7, expr: [] } } }),
    ).toBe("delete rule inet t c handle 7");
    expect(
      describeCommand({ add: { element: { family: "inet", table: "t", name: "s", elem: ["192.0.2.1", "192.0.2.2"] } } }),
    ).toBe("add element inet t s (2 elements)");
    expect(describeCommand({ flush: { ruleset: null } })).toBe("flush ruleset");
  });
});
