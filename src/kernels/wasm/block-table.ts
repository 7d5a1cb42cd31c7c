import type { KVView } from "../backend.js";
import type { Arena } from "./arena.js";

/**
 * Gets a sequence's block table to the attention kernel. The model may keep block tables in
 * ordinary Int32Arrays (they are tiny and change as sequences grow): those are copied into the
 * shared memory per call. Every used entry is checked against the pool size first, because a
 * wrong entry would otherwise read some other buffer's memory without any error.
 */
export class BlockTables {
  private copy: Int32Array;

  constructor(private readonly arena: Arena) {
    this.copy = arena.i32(1024);
  }

  /** Room for `entries` copied entries, so that stage() calls up to that many never move the copy. */
  reserve(entries: number): void {
    // Grows geometrically: a longer sequence costs one allocation, not one per block.
    if (this.copy.length < entries) this.copy = this.arena.i32(Math.max(entries, 2 * this.copy.length));
  }

  /**
   * The byte offset of the first `used` entries of kv.blockTable in the shared memory; a table
   * outside it is copied to entry `at` of the copy (reserve() first when staging several).
   */
  stage(kv: KVView, used: number, blockFloats: number, at = 0): number {
    const src = kv.blockTable;
    if (!(kv.blockSize >= 1) || src.length < used) {
      throw new Error(`attention: block table has ${src.length} blocks of ${kv.blockSize}, ${used} needed`);
    }
    const poolBlocks = Math.floor(kv.k.length / blockFloats);
    for (let i = 0; i < used; i++) {
      const b = src[i];
      if (!(b >= 0 && b < poolBlocks)) throw new Error(`attention: block table entry ${i} = ${b} outside the pool of ${poolBlocks} blocks`);
    }
    if (this.arena.owns(src)) return src.byteOffset;
    this.reserve(at + used);
    for (let i = 0; i < used; i++) this.copy[at + i] = src[i]; // no view per call
    return this.copy.byteOffset + at * Int32Array.BYTES_PER_ELEMENT;
  }
}
