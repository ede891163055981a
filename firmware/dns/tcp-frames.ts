/**
 * DNS over TCP's framing (RFC 1035 4.2.2, RFC 7766): each message after a two-byte length.
 * Pure. Chunks are kept as they arrive and each message is copied out once, so a message that
 * comes a byte at a time costs its length, not its length squared (the server used to copy
 * everything buffered on every chunk).
 */
export class TcpFrames {
  #chunks: Uint8Array[] = [];
  /** The first chunk still holding bytes (chunks before it are spent), and bytes taken from it. */
  #head = 0;
  #offset = 0;
  #buffered = 0;

  /** Bytes received and not yet handed out as a message. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** The next complete message (without its length), or undefined until all of it is here. */
  next(): Uint8Array | undefined {
    if (this.#buffered < 2) return undefined;
    const len = (this.#byteAt(0) << 8) | this.#byteAt(1);
    if (this.#buffered < len + 2) return undefined;
    this.#skip(2);
    const out = new Uint8Array(len);
    let filled = 0;
    while (filled < len) {
      const head = this.#chunks[this.#head]!;
      const n = Math.min(len - filled, head.length - this.#offset);
      out.set(head.subarray(this.#offset, this.#offset + n), filled);
      filled += n;
      this.#skip(n);
    }
    return out;
  }

  #byteAt(i: number): number {
    let k = this.#offset + i;
    for (let c = this.#head; c < this.#chunks.length; c++) {
      const chunk = this.#chunks[c]!;
      if (k < chunk.length) return chunk[k]!;
      k -= chunk.length;
    }
    return 0;
  }

  #skip(n: number): void {
    this.#buffered -= n;
    let left = n;
    while (left > 0) {
      const head = this.#chunks[this.#head]!;
      const avail = head.length - this.#offset;
      if (left < avail) {
        this.#offset += left;
        return;
      }
      left -= avail;
      this.#head++;
      this.#offset = 0;
    }
    // Spent chunks go in one step once they are most of the list (no shift per chunk).
    if (this.#head === this.#chunks.length) {
      this.#chunks = [];
      this.#head = 0;
    } else if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }
}
