/**
 * The paged KV cache's bookkeeping (vLLM's BlockSpaceManager, nano-vllm's block_manager): which
 * pool blocks each sequence owns, how many sequences share each block, and which full blocks can
 * be reused by a later prompt with the same prefix. It only moves integer block ids around; the
 * tensors live in PagedKVCache.
 */

/** Token i of a sequence (prompt, then generated tokens). */
export type TokenAt = (i: number) => number;

/** The blocks of one sequence, in position order; `ids` doubles as the table attention reads. */
export class BlockTable {
  length = 0; // blocks in use
  numHashed = 0; // leading blocks that are full, computed, and known by their prefix hash
  lastHash = NO_HASH; // prefix hash of block numHashed - 1

  constructor(readonly ids: Int32Array) {}
}

export interface BlockStats {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly usedBlocks: number;
  readonly freeBlocks: number;
  /** Free blocks still holding a reusable prefix (evicted least recently freed first). */
  readonly cachedFreeBlocks: number;
  /** Prompt tokens looked up in the prefix cache, and how many of them were found. */
  readonly prefixQueryTokens: number;
  readonly prefixHitTokens: number;
}

const NO_HASH = 0;

export class BlockManager {
  private readonly refCount: Int32Array; // (numBlocks,) sequences using each block
  private readonly hash: Float64Array; // (numBlocks,) prefix hash of a cached block, NO_HASH if none
  private readonly tokens: Int32Array; // (numBlocks, blockSize) tokens of cached blocks, to confirm hits
  private readonly byHash = new Map<number, number>();
  // Free blocks as a doubly linked list through `next`/`prev`, with sentinel `numBlocks`: blocks
  // without a hash sit at the front and go first, cached ones join at the back (least recently
  // freed first out), and a hit can pull a cached block out of the middle in O(1).
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private free = 0;
  private cachedFree = 0;
  private queryTokens = 0;
  private hitTokens = 0;

  constructor(readonly numBlocks: number, readonly blockSize: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new Error(`BlockManager: invalid numBlocks ${numBlocks}`);
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new Error(`BlockManager: invalid blockSize ${blockSize}`);
    this.refCount = new Int32Array(numBlocks);
    this.hash = new Float64Array(numBlocks);
    this.tokens = new Int32Array(numBlocks * blockSize);
    this.next = new Int32Array(numBlocks + 1);
    this.prev = new Int32Array(numBlocks + 1);
    this.next[numBlocks] = this.prev[numBlocks] = numBlocks;
    for (let b = 0; b < numBlocks; b++) this.pushBack(b);
  }

  get numFree(): number {
    return this.free;
  }

  stats(): BlockStats {
    return {
      numBlocks: this.numBlocks,
      blockSize: this.blockSize,
      usedBlocks: this.numBlocks - this.free,
      freeBlocks: this.free,
      cachedFreeBlocks: this.cachedFree,
      prefixQueryTokens: this.queryTokens,
      prefixHitTokens: this.hitTokens,
    };
  }

  /** Blocks that hold `numTokens` positions. */
  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  refCountOf(block: number): number {
    return this.refCount[block];
  }

  /**
   * Gives an empty table the blocks for tokens [0, numTokens), reusing cached blocks for its
   * longest known prefix of full blocks. The block of the last token is never taken from the
   * cache, so at least one token is left to compute (its logits are needed) and a shared block
   * is never written. Returns the number of tokens found in the cache, or null, changing
   * nothing, if fewer than `reserve` free blocks would remain.
   */
  allocate(table: BlockTable, tokenAt: TokenAt, numTokens: number, usePrefixCache: boolean, reserve = 0): number | null {
    if (table.length !== 0) throw new Error("BlockManager.allocate: table is not empty");
    const needed = this.blocksFor(numTokens);
    if (needed > table.ids.length) throw new Error(`BlockManager.allocate: ${needed} blocks exceed the table's ${table.ids.length}`);
    const bs = this.blockSize;
    let hits = 0;
    let cost = needed;
    let h = NO_HASH;
    const searchable = usePrefixCache ? Math.floor((numTokens - 1) / bs) : 0;
    for (let i = 0; i < searchable; i++) {
      const next = hashBlock(h, tokenAt, i * bs, bs);
      const b = this.byHash.get(next);
      if (b === undefined || !this.holds(b, tokenAt, i * bs)) break;
      table.ids[hits++] = b; // tentative until the cost is known to fit
      if (this.refCount[b] > 0) cost--; // already in use: sharing it takes nothing from the free list
      h = next;
    }
    if (this.free - cost < reserve) return null;
    if (usePrefixCache) {
      this.queryTokens += numTokens;
      this.hitTokens += hits * bs;
    }
    for (let i = 0; i < hits; i++) {
      const b = table.ids[i];
      if (this.refCount[b] === 0) this.unlink(b);
      this.refCount[b]++;
    }
    table.length = hits;
    table.numHashed = hits;
    table.lastHash = h;
    while (table.length < needed) table.ids[table.length++] = this.take();
    return hits * bs;
  }

  /** Adds blocks so the table holds `numTokens` positions; false, changing nothing, if too few are free. */
  ensureCapacity(table: BlockTable, numTokens: number): boolean {
    const needed = this.blocksFor(numTokens);
    if (needed > table.ids.length) throw new Error(`BlockManager.ensureCapacity: ${needed} blocks exceed the table's ${table.ids.length}`);
    if (needed - table.length > this.free) return false;
    while (table.length < needed) table.ids[table.length++] = this.take();
    return true;
  }

  /**
   * Records that tokens [0, numComputed) now have their keys and values in the table's blocks:
   * every newly full block becomes findable by the hash of its tokens and all before them.
   */
  commit(table: BlockTable, tokenAt: TokenAt, numComputed: number): void {
    const bs = this.blockSize;
    while ((table.numHashed + 1) * bs <= numComputed && table.numHashed < table.length) {
      const i = table.numHashed;
      const h = hashBlock(table.lastHash, tokenAt, i * bs, bs);
      const b = table.ids[i];
      // If another block already holds this prefix (two equal prompts prefilled side by side),
      // that one stays the cached copy; this one is freed as a plain block.
      if (!this.byHash.has(h)) {
        this.byHash.set(h, b);
        this.hash[b] = h;
        for (let j = 0; j < bs; j++) this.tokens[b * bs + j] = tokenAt(i * bs + j);
      }
      table.lastHash = h;
      table.numHashed++;
    }
  }

  /** Releases the table's blocks; blocks nobody else uses return to the free list. */
  release(table: BlockTable): void {
    // Last block first, so a prefix's tail is evicted before its head: a shorter shared prefix
    // stays reusable longer.
    for (let i = table.length - 1; i >= 0; i--) {
      const b = table.ids[i];
      if (this.refCount[b] <= 0) throw new Error(`BlockManager.release: block ${b} is not in use`);
      if (--this.refCount[b] === 0) {
        if (this.hash[b] !== NO_HASH) this.pushBack(b);
        else this.pushFront(b);
      }
    }
    table.length = 0;
    table.numHashed = 0;
    table.lastHash = NO_HASH;
  }

  private holds(b: number, tokenAt: TokenAt, start: number): boolean {
    const bs = this.blockSize;
    for (let j = 0; j < bs; j++) if (this.tokens[b * bs + j] !== tokenAt(start + j)) return false;
    return true;
  }

  /** The first free block, its cached prefix (if any) forgotten. */
  private take(): number {
    const b = this.next[this.numBlocks];
    if (b === this.numBlocks) throw new Error("BlockManager: no free block");
    this.unlink(b);
    if (this.hash[b] !== NO_HASH) {
      this.byHash.delete(this.hash[b]);
      this.hash[b] = NO_HASH;
    }
    this.refCount[b] = 1;
    return b;
  }

  private pushBack(b: number): void {
    this.link(b, this.prev[this.numBlocks], this.numBlocks);
  }

  private pushFront(b: number): void {
    this.link(b, this.numBlocks, this.next[this.numBlocks]);
  }

  private link(b: number, before: number, after: number): void {
    this.next[before] = b;
    this.prev[b] = before;
    this.next[b] = after;
    this.prev[after] = b;
    this.free++;
    if (this.hash[b] !== NO_HASH) this.cachedFree++;
  }

  private unlink(b: number): void {
    this.next[this.prev[b]] = this.next[b];
    this.prev[this.next[b]] = this.prev[b];
    this.free--;
    if (this.hash[b] !== NO_HASH) this.cachedFree--;
  }
}

/**
 * A 53-bit hash of one block's tokens chained onto the hash of everything before it, so equal
 * hashes mean equal prefixes (up to collisions, ~2^-53; hits also compare the block's tokens).
 * Two murmur3-style 32-bit lanes with different seeds; never returns NO_HASH.
 */
export function hashBlock(parent: number, tokenAt: TokenAt, start: number, size: number): number {
  let a = (parent >>> 0) ^ 0x9e3779b9;
  let b = Math.floor(parent / 2 ** 32) ^ 0x7f4a7c15;
  for (let i = 0; i < size; i++) {
    const t = tokenAt(start + i);
    a = mix(a, t);
    b = mix(b, t ^ 0x5bd1e995);
  }
  a = fmix(a ^ size);
  b = fmix(b ^ size);
  const h = (b & 0x1fffff) * 2 ** 32 + (a >>> 0);
  return h === NO_HASH ? 1 : h;
}

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
