/**
 * A FIFO of fixed capacity on a ring buffer: push is O(1) and never grows memory, take
 * hands over up to `max` items in one array. When full, push refuses (the caller counts the
 * drop): the oldest records are kept, since the start of an attack says more than the
 * thousandth packet of it.
 */
export class BoundedQueue<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer: ${capacity}`);
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Adds at the tail; false (and nothing changes) when full. */
  push(item: T): boolean {
    if (this.#size === this.capacity) return false;
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    this.#size += 1;
    return true;
  }

  /** Removes and returns up to `max` items from the head, oldest first. */
  take(max: number = Number.POSITIVE_INFINITY): T[] {
    const n = max > 0 ? Math.min(this.#size, Math.floor(max)) : 0; // NaN and negatives take nothing
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      const at = (this.#head + i) % this.capacity;
      out[i] = this.#items[at] as T;
      this.#items[at] = undefined; // let the record be collected
    }
    this.#head = (this.#head + n) % this.capacity;
    this.#size -= n;
    return out;
  }
}
