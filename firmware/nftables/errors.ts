import type { Command } from "./types.ts";

/** Base class of everything the nftables driver throws, so callers can catch one type. */
export class NftError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NftError";
  }
}

/** The nft binary (first word of the driver's argv) could not be started: not installed. */
export class NftNotFoundError extends NftError {
  readonly argv: readonly string[];

  constructor(argv: readonly string[], options?: { cause?: unknown }) {
    super(`cannot run ${JSON.stringify(argv[0] ?? "")}: not found (is nftables installed?)`, options);
    this.name = "NftNotFoundError";
    this.argv = argv;
  }
}

/** Which command of our batch nft blamed (only when nft says so). */
export type FailedCommand = { index: number; command: Command };

/**
 * nft ran and refused: the batch, the listing, or the object named does not exist.
 * `stderr` is nft's own message, verbatim; the kernel applied nothing of the batch.
 */
export class NftCommandError extends NftError {
  readonly argv: readonly string[];
  readonly stderr: string;
  /** null when nft was killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: string | null;
  /**
   * Set when nft named the failing command. nft 1.0.6 does so only for JSON it cannot
   * parse ("Parsing command array at index N failed."); evaluation and kernel errors
   * carry no location for JSON input, and then this is undefined.
   */
  readonly failedCommand: FailedCommand | undefined;

  constructor(init: {
    message: string;
    argv: readonly string[];
    stderr: string;
    exitCode: number | null;
    signal: string | null;
    failedCommand?: FailedCommand;
    cause?: unknown;
  }) {
    super(init.message, { cause: init.cause });
    this.name = "NftCommandError";
    this.argv = init.argv;
    this.stderr = init.stderr;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.failedCommand = init.failedCommand;
  }
}

/** One mismatch between nft's output and the schema we expect (path into the JSON). */
export type NftParseIssue = { path: string; message: string };

/** nft's output was not JSON, or not of the shape this driver understands. */
export class NftParseError extends NftError {
  readonly issues: readonly NftParseIssue[];
  /** The start of the output, for the log; full listings can be megabytes. */
  readonly outputExcerpt: string;

  constructor(init: {
    what: string;
    issues: readonly NftParseIssue[];
    output: string;
    cause?: unknown;
  }) {
    const shown = init.issues.slice(0, 5).map((i) => `${i.path || "(top)"}: ${i.message}`);
    const more = init.issues.length > 5 ? `; and ${init.issues.length - 5} more` : "";
    super(`cannot read nft's ${init.what}: ${shown.join("; ")}${more}`, { cause: init.cause });
    this.name = "NftParseError";
    this.issues = init.issues;
    this.outputExcerpt = init.output.slice(0, 2000);
  }
}
