/**
 * Domain list parsing: hosts files, plain domain lists and AdBlock-style DNS rules.
 * Pure; one forward pass per line that finds the name, checks it and notes where its dots
 * are, with no allocation on the common path (the name is handed on as a range of the
 * original string plus its dot positions), because lists run to millions of lines and are
 * parsed again on every reload.
 *
 * Semantics (README, "URL filter"):
 * - hosts: `ADDRESS NAME [NAME…] [# comment]`; every NAME is a block rule with the list's
 *   match scope. The address is ignored (0.0.0.0, 127.0.0.1, :: all mean "block").
 *   Loopback names (localhost, broadcasthost, …) are skipped, not blocked. A line with a
 *   bare NAME is read as a domains line.
 * - domains: one NAME per line, `# comment`; the list's match scope; `*.NAME` means
 *   everything below NAME but not NAME itself. A hosts line is read as a hosts line.
 * - adblock: `||NAME^` blocks NAME and everything below (the syntax says so, whatever the
 *   list's scope); `|NAME^` blocks NAME only; `@@` in front makes either an allow rule;
 *   a bare NAME (or a hosts line) takes the list's scope. `!` and `#` start comments. Rules
 *   whose meaning depends on something a DNS filter cannot see or does not implement
 *   (URL paths, wildcards, regexes, cosmetic `##` rules, modifiers other than `$important`)
 *   are counted as unsupported and skipped, never guessed at.
 *
 * Names are lower-cased, one trailing dot is dropped, internationalised names become
 * punycode. A line that cannot be read is counted and the first few are reported with their
 * line number; it never stops the parse.
 */
import { MAX_LABEL, MAX_NAME_WIRE, normaliseName, type NameProblem } from "./names.ts";
import { KIND_ALLOW, KIND_BLOCK, SCOPE_BELOW, SCOPE_EXACT, SCOPE_SUBDOMAIN, type Kind, type Scope } from "./domain-table.ts";

export type ListFormat = "hosts" | "domains" | "adblock";
export type ListMatch = "exact" | "subdomain";

/**
 * Receives each rule: the name is text[start, end), lower-case ASCII and valid; its dots
 * are at dots[0..dotCount) (ascending). Return false to stop (the name budget ran out).
 */
export type ListSink = (text: string, start: number, end: number, dots: Int32Array, dotCount: number, kind: Kind, scope: Scope) => boolean;

export type LineProblem = NameProblem | "no-name" | "bad-address" | "malformed-rule" | "budget";
export type RejectedLine = { line: number; problem: LineProblem; text: string };

export type ListParseReport = {
  /** Lines in the text. */
  lines: number;
  /** Rules handed to the sink. */
  rules: number;
  allowRules: number;
  /** Blank and comment lines, and skipped loopback names. */
  skipped: number;
  /** Understood but not applicable to a DNS filter (cosmetic, URL, regex, modifiers). */
  unsupported: number;
  /** Could not be read. */
  rejected: number;
  /** The first few rejected lines (escaped, bounded), for the operator. */
  firstRejected: RejectedLine[];
  /** True when the sink refused more names (the compile's name budget ran out). */
  truncated: boolean;
};

const FIRST_REJECTED = 5;
const EXCERPT = 80;

/** Loopback and placeholder names that hosts files carry for the machine itself. */
const HOSTS_SKIP = new Set([
  "localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback", "ip6-localnet",
  "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0",
]);

/** Escapes a line for a report: printable ASCII only, bounded. */
export function excerpt(s: string): string {
  let out = "";
  for (let i = 0; i < s.length && out.length < EXCERPT; i++) {
    const c = s.charCodeAt(i);
    out += c >= 32 && c < 127 && c !== 92 ? s[i] : c === 92 ? "\\\\" : `\\u${c.toString(16).padStart(4, "0")}`;
  }
  return s.length > EXCERPT ? `${out}…` : out;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 11 || c === 12;
}

// Token flags from `scan`.
const F_UPPER = 1;
const F_NONASCII = 2;
const F_BAD = 4;
const F_NONDIGIT = 8;
const F_EMPTY_LABEL = 16;
const F_LONG_LABEL = 32;
const F_COLON = 64;
const F_HEXLETTER_ONLY = 128;

function emptyReport(): ListParseReport {
  return { lines: 0, rules: 0, allowRules: 0, skipped: 0, unsupported: 0, rejected: 0, firstRejected: [], truncated: false };
}

/**
 * Parses a list and hands every rule to `sink`. `match` is the scope of plain names
 * (hosts, domains and bare adblock names). `atStart`: the text is the start of the list
 * (a byte-order mark there is skipped).
 */
export function parseDomainList(text: string, format: ListFormat, match: ListMatch, sink: ListSink, atStart = true): ListParseReport {
  const report = emptyReport();
  const plainScope: Scope = match === "exact" ? SCOPE_EXACT : SCOPE_SUBDOMAIN;
  const dots = new Int32Array(256);
  // What the last `scan` found.
  let nDots = 0;
  let flags = 0;
  let lineNo = 0;
  let lineStart = 0;
  let lineEnd = 0;

  /**
   * Scans a name token in str from i: stops at the end, white space, or (for hosts and
   * domains) "#". Notes dots and what kind of characters it saw; returns the token end.
   */
  const scan = (str: string, i: number, e: number, stopAtHash: boolean): number => {
    nDots = 0;
    flags = F_HEXLETTER_ONLY;
    let labelStart = i;
    for (; i < e; i++) {
      const c = str.charCodeAt(i);
      if (c >= 97 && c <= 122) {
        flags |= F_NONDIGIT;
        if (c > 102) flags &= ~F_HEXLETTER_ONLY;
      } else if (c >= 48 && c <= 57) {
        // digit
      } else if (c === 46) {
        const l = i - labelStart;
        if (l === 0) flags |= F_EMPTY_LABEL;
        else if (l > MAX_LABEL) flags |= F_LONG_LABEL;
        if (nDots < 255) dots[nDots++] = i;
        labelStart = i + 1;
      } else if (c === 45 || c === 95) {
        flags |= F_NONDIGIT;
        flags &= ~F_HEXLETTER_ONLY;
      } else if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12 || (c === 35 && stopAtHash)) {
        break;
      } else if (c >= 65 && c <= 90) {
        flags |= F_UPPER | F_NONDIGIT;
        if (c > 70) flags &= ~F_HEXLETTER_ONLY;
      } else if (c > 127) {
        flags |= F_NONASCII | F_NONDIGIT;
        flags &= ~F_HEXLETTER_ONLY;
      } else {
        if (c === 58) flags |= F_COLON;
        else flags &= ~F_HEXLETTER_ONLY;
        flags |= F_BAD | F_NONDIGIT;
      }
    }
    const l = i - labelStart;
    if (l === 0) flags |= F_EMPTY_LABEL;
    else if (l > MAX_LABEL) flags |= F_LONG_LABEL;
    return i;
  };

  const reject = (problem: LineProblem): void => {
    report.rejected++;
    if (report.firstRejected.length < FIRST_REJECTED) {
      report.firstRejected.push({ line: lineNo, problem, text: excerpt(text.slice(lineStart, lineEnd)) });
    }
  };

  /** Emits text[s, e) as scanned (flags, dots); takes the slow path for upper case and IDN. */
  const emit = (s: number, e: number, kind: Kind, scope: Scope): void => {
    if (report.truncated) return;
    let str = text;
    // One trailing dot (a fully qualified name) is not an empty label.
    if (e - s > 1 && text.charCodeAt(e - 1) === 46) {
      e--;
      nDots--;
      // Only the label the dot closed was "empty" because of it: look at every label again
      // (an earlier empty one, as in "._.", stays an error).
      flags &= ~F_EMPTY_LABEL;
      let labelStart = s;
      for (let k = 0; k < nDots; k++) {
        const d = dots[k] ?? 0;
        if (d === labelStart) flags |= F_EMPTY_LABEL;
        labelStart = d + 1;
      }
      if (e === labelStart) flags |= F_EMPTY_LABEL;
    }
    if (flags & (F_UPPER | F_NONASCII) && !(flags & F_BAD)) {
      const r = normaliseName(text.slice(s, e));
      if (!r.ok) return reject(r.problem);
      str = r.name;
      s = 0;
      e = scan(str, 0, str.length, false);
    }
    if (flags & F_BAD) return reject("bad-character");
    if (flags & F_EMPTY_LABEL) return reject(e === s ? "empty" : "label-empty");
    if (flags & F_LONG_LABEL) return reject("label-too-long");
    if (e - s + 2 > MAX_NAME_WIRE) return reject("too-long");
    if (!(flags & F_NONDIGIT) && nDots === 3) return reject("ip-address");
    if (!sink(str, s, e, dots, nDots, kind, scope)) {
      report.truncated = true;
      return reject("budget");
    }
    report.rules++;
    if (kind === KIND_ALLOW) report.allowRules++;
  };

  const skipSpace = (i: number, e: number): number => {
    while (i < e && isSpace(text.charCodeAt(i))) i++;
    return i;
  };
  const atLineEnd = (i: number, e: number): boolean => i >= e || text.charCodeAt(i) === 35;

  /** A scanned token that is an IPv4 or IPv6 address (the first column of a hosts line). */
  const scannedAddress = (): boolean =>
    !(flags & F_NONDIGIT) || ((flags & F_COLON) !== 0 && (flags & (F_HEXLETTER_ONLY | F_BAD)) === (F_HEXLETTER_ONLY | F_BAD));

  const hostsNames = (i: number, e: number, scope: Scope): void => {
    while (!atLineEnd(i, e)) {
      const t = scan(text, i, e, true);
      if (t - i <= 21 && HOSTS_SKIP.has(text.slice(i, t).toLowerCase())) report.skipped++;
      else emit(i, t, KIND_BLOCK, scope);
      i = skipSpace(t, e);
    }
  };

  /** A domains or hosts line from s (first non-space) to e. */
  const plainLine = (s: number, e: number, scope: Scope): void => {
    let i = s;
    let lineScope = scope;
    if (text.charCodeAt(i) === 42 && text.charCodeAt(i + 1) === 46) {
      i += 2;
      lineScope = SCOPE_BELOW;
    }
    const t = scan(text, i, e, true);
    const next = skipSpace(t, e);
    if (atLineEnd(next, e)) {
      if (t === i) return reject("no-name");
      return emit(i, t, KIND_BLOCK, lineScope);
    }
    // More than one token: "ADDRESS NAME…".
    if (lineScope === SCOPE_BELOW || !scannedAddress()) return reject(format === "hosts" ? "bad-address" : "malformed-rule");
    hostsNames(next, e, scope);
  };

  const adblockLine = (s: number, e: number): void => {
    let kind: Kind = KIND_BLOCK;
    let i = s;
    if (text.charCodeAt(i) === 64 && text.charCodeAt(i + 1) === 64) {
      kind = KIND_ALLOW;
      i += 2;
    }
    let scope: Scope = plainScope;
    let anchored = false;
    if (text.charCodeAt(i) === 124 && text.charCodeAt(i + 1) === 124) {
      scope = SCOPE_SUBDOMAIN;
      i += 2;
      anchored = true;
    } else if (text.charCodeAt(i) === 124) {
      scope = SCOPE_EXACT;
      i += 1;
      anchored = true;
    }
    // Modifiers: only $important is harmless to ignore for DNS; others change the meaning.
    let end = e;
    for (let k = i; k < e; k++) {
      if (text.charCodeAt(k) !== 36) continue;
      const mods = text.slice(k + 1, e).toLowerCase().split(",");
      if (!mods.every((m) => m.trim() === "important")) {
        report.unsupported++;
        return;
      }
      end = k;
      break;
    }
    if (end > i && text.charCodeAt(end - 1) === 94 /* ^ */) end--;
    else if (anchored && end > i && text.charCodeAt(end - 1) === 124) end--; // "|name|" means exact too
    if (!anchored && kind === KIND_BLOCK && text.charCodeAt(i) === 42 && text.charCodeAt(i + 1) === 46) {
      i += 2;
      scope = SCOPE_BELOW;
    }
    if (end === i) return reject("no-name");
    const t = scan(text, i, end, false);
    if (t < end) {
      // White space inside: "0.0.0.0 name" (AdGuard reads hosts syntax in DNS filters) or garbage.
      if (kind === KIND_BLOCK && !anchored && scope !== SCOPE_BELOW) return plainLine(s, e, plainScope);
      return reject("malformed-rule");
    }
    if (flags & F_BAD) {
      // URL, pattern and element-hiding syntax: a rule, just not one a DNS filter can apply.
      for (let k = i; k < end; k++) {
        const c = text.charCodeAt(k);
        if (c === 47 || c === 42 || c === 94 || c === 124 || c === 58 || c === 63 || c === 61 || c === 38 || c === 35) {
          report.unsupported++;
          return;
        }
      }
    }
    emit(i, end, kind, scope);
  };

  let pos = atStart && text.charCodeAt(0) === 0xfeff ? 1 : 0; // a byte-order mark is not part of the first name
  const n = text.length;
  while (pos < n) {
    let eol = text.indexOf("\n", pos);
    if (eol === -1) eol = n;
    lineNo++;
    lineStart = pos;
    lineEnd = eol;
    pos = eol + 1;
    let s = lineStart;
    let e = eol;
    while (s < e && isSpace(text.charCodeAt(s))) s++;
    while (e > s && isSpace(text.charCodeAt(e - 1))) e--;
    if (s === e) {
      report.skipped++;
      continue;
    }
    const first = text.charCodeAt(s);
    if (format === "adblock") {
      if (first === 33 /* ! */ || first === 91 /* [Adblock Plus 2.0] */) report.skipped++;
      else if (first === 35 /* # */) {
        // "##", "#@#", "#?#" are cosmetic rules; a lone "#" is a comment.
        const c = text.charCodeAt(s + 1);
        if (c === 35 || c === 64 || c === 63) report.unsupported++;
        else report.skipped++;
      } else adblockLine(s, e);
    } else if (first === 35) report.skipped++;
    else plainLine(s, e, plainScope);
  }
  report.lines = lineNo;
  return report;
}

/** Characters per slice for `parseDomainListChunked`: some 10 ms of parsing. */
const CHUNK_CHARS = 1 << 20;

/**
 * A list's text: the whole string, or its pieces in order (cut anywhere, even inside a
 * line), so a big list can be parsed straight from its file without ever being one string.
 */
export type ListText = string | ListPieces;

/** A list's text in pieces; `estimateLines` (when cheap to know) sizes the table without a pass over the text. */
export type ListPieces = Iterable<string> & { estimateLines?: () => number };

/** Cuts a string into line-aligned slices of about CHUNK_CHARS (slices share the string's memory). */
function* sliceLines(text: string): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = start + CHUNK_CHARS >= text.length ? text.length : text.indexOf("\n", start + CHUNK_CHARS);
    end = end === -1 ? text.length : end + 1;
    yield start === 0 && end === text.length ? text : text.slice(start, end);
    start = end;
  }
}

/**
 * `parseDomainList` piece by piece, yielding between pieces so a compile of a
 * million-line list shares the event loop with the queries being answered. Same rules and
 * report as one `parseDomainList` over the whole text (line numbers are the whole text's).
 */
export function* parseDomainListChunked(source: ListText, format: ListFormat, match: ListMatch, sink: ListSink): Generator<void, ListParseReport> {
  const total = emptyReport();
  let carry = "";
  let first = true;
  const add = (r: ListParseReport) => {
    for (const x of r.firstRejected) {
      if (total.firstRejected.length < FIRST_REJECTED) total.firstRejected.push({ ...x, line: x.line + total.lines });
    }
    total.lines += r.lines;
    total.rules += r.rules;
    total.allowRules += r.allowRules;
    total.skipped += r.skipped;
    total.unsupported += r.unsupported;
    total.rejected += r.rejected;
    if (r.truncated) total.truncated = true;
  };
  for (const piece of typeof source === "string" ? sliceLines(source) : source) {
    // Only whole lines are parsed; the tail after the last newline waits for the next piece.
    const text = carry === "" ? piece : carry + piece;
    const lastNl = text.lastIndexOf("\n");
    if (lastNl === -1) {
      carry = text;
      continue;
    }
    carry = text.slice(lastNl + 1);
    add(parseDomainList(lastNl === text.length - 1 ? text : text.slice(0, lastNl + 1), format, match, sink, first));
    first = false;
    if (total.truncated) return total;
    yield;
  }
  if (carry !== "") add(parseDomainList(carry, format, match, sink, first));
  return total;
}

/**
 * Lines in a list's text (about its rules for every format but hosts, which may list several
 * names a line), to size the table; pieces that can estimate it are not read for it.
 */
export function countLines(source: ListText): number {
  if (typeof source !== "string" && source.estimateLines) return source.estimateLines();
  let n = 0;
  for (const piece of typeof source === "string" ? [source] : source) {
    for (let i = piece.indexOf("\n"); i !== -1; i = piece.indexOf("\n", i + 1)) n++;
  }
  return n + 1;
}

/** The rules of a list as plain values: for tests, the CLI and small lists (allocates per rule). */
export function listRules(text: string, format: ListFormat, match: ListMatch): { rules: { name: string; kind: "block" | "allow"; scope: "exact" | "subdomain" | "below" }[]; report: ListParseReport } {
  const rules: { name: string; kind: "block" | "allow"; scope: "exact" | "subdomain" | "below" }[] = [];
  const report = parseDomainList(text, format, match, (t, s, e, _d, _n, kind, scope) => {
    rules.push({ name: t.slice(s, e), kind: kind === KIND_ALLOW ? "allow" : "block", scope: scope === SCOPE_EXACT ? "exact" : scope === SCOPE_BELOW ? "below" : "subdomain" });
    return true;
  });
  return { rules, report };
}

/**
 * Whether a parsed text is a list at all: not when it had content but nothing in it was a
 * rule, or when more lines were rejected than read (an HTML error page saved as the list,
 * a cut download). A text of comments only is an empty list, not a broken one. The
 * compiler and the list store use this one rule, so a text the store keeps is one the
 * compiler accepts.
 */
export function listUnusable(report: ListParseReport): boolean {
  return report.rules + report.rejected + report.unsupported > 0 && (report.rules === 0 || report.rejected > report.rules);
}

/** Parses only to judge a text with `listUnusable` (what the list store does before keeping a download). */
export function checkListText(text: string, format: ListFormat, match: ListMatch): { usable: boolean; report: ListParseReport } {
  const report = parseDomainList(text, format, match, () => true);
  return { usable: !listUnusable(report), report };
}
