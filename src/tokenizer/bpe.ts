import { MinHeap } from "./heap.js";

/**
 * The BPE merge step on token ids. A word starts as one id per byte; the pair with the lowest
 * merge rank is fused, leftmost first, until no adjacent pair has a rank. A heap of candidate
 * pairs over a linked list of symbols makes this O(n log n), so a 100 kB run without spaces
 * costs milliseconds rather than the minutes a rescan-after-every-merge loop would take.
 */
export class BpeMerger {
  private readonly ranks: PairRanks;

  /** merges as in CompiledTokenizer: (left, right, merged) ids in rank order. */
  constructor(private readonly merges: Int32Array) {
    this.ranks = new PairRanks(merges);
  }

  private rank(left: number, right: number): number | undefined {
    return this.ranks.get(left, right);
  }

  /** Merges the symbols in place and returns the surviving ids. */
  merge(ids: number[]): number[] {
    const n = ids.length;
    if (n < 2) return ids;
    const DEAD = -1;
    // next[i] / prev[i] link the surviving symbols; a merge keeps the left slot and kills the right.
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    // One number per candidate: rank * n + position, so the heap orders by rank, then leftmost.
    const heap = new MinHeap();
    const offer = (i: number): void => {
      const j = next[i];
      if (j >= n) return;
      const r = this.rank(ids[i], ids[j]);
      if (r !== undefined) heap.push(r * n + i);
    };
    for (let i = 0; i + 1 < n; i++) offer(i);

    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % n;
      const r = (key - i) / n;
      const j = next[i];
      // Entries are never removed when a neighbour changes; a stale one is simply skipped here.
      if (ids[i] === DEAD || j >= n || this.rank(ids[i], ids[j]) !== r) continue;
      ids[i] = this.merges[3 * r + 2];
      ids[j] = DEAD;
      next[i] = next[j];
      if (next[j] < n) prev[next[j]] = i;
      if (prev[i] >= 0) offer(prev[i]);
      offer(i);
    }
    return ids.filter((id) => id !== DEAD);
  }
}

/**
 * (left, right) id pair -> merge rank, an open-addressing hash table over the merges themselves:
 * a slot holds a rank r, and merges[3r], merges[3r + 1] are its pair. A Map keyed by
 * left * vocab + right would hold 50k heap numbers for GPT-2 (keys past 2^30 are not small
 * integers in V8) and allocate one per lookup; this is one Int32Array (512 KB for GPT-2) and
 * allocates nothing.
 */
class PairRanks {
  private readonly ranks: Int32Array; // -1: an empty slot (ranks are >= 0)
  private readonly mask: number;

  constructor(private readonly merges: Int32Array) {
    const count = merges.length / 3;
    let capacity = 16;
    while (capacity < 2 * count) capacity *= 2; // at most half full: short probe runs
    this.ranks = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    for (let r = 0; r < count; r++) {
      const i = this.slot(merges[3 * r], merges[3 * r + 1]);
      // Keep the first occurrence of a duplicated merge: it has the lower, winning rank.
      if (this.ranks[i] === -1) this.ranks[i] = r;
    }
  }

  get(left: number, right: number): number | undefined {
    const r = this.ranks[this.slot(left, right)];
    return r === -1 ? undefined : r;
  }

  /** The slot holding the pair, or the empty slot where it would go (linear probing). */
  private slot(left: number, right: number): number {
    const h = Math.imul(left, 0x9e3779b1) ^ Math.imul(right, 0x85ebca77);
    let i = (h ^ (h >>> 16)) & this.mask;
    for (let r = this.ranks[i]; r !== -1 && (this.merges[3 * r] !== left || this.merges[3 * r + 1] !== right); r = this.ranks[i]) {
      i = (i + 1) & this.mask;
    }
    return i;
  }
}
