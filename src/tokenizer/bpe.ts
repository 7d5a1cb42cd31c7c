import { MinHeap } from "./heap.js";

/**
 * The BPE merge step on token ids. A word starts as one id per byte; the pair with the lowest
 * merge rank is fused, leftmost first, until no adjacent pair has a rank. A heap of candidate
 * pairs over a linked list of symbols makes this O(n log n), so a 100 kB run without spaces
 * costs milliseconds rather than the minutes a rescan-after-every-merge loop would take.
 */
export class BpeMerger {
  /** Pair key (left * stride + right) -> rank; ids are integers, so the key is exact. */
  private readonly ranks = new Map<number, number>();

  /** merges as in CompiledTokenizer: (left, right, merged) ids in rank order. */
  constructor(
    private readonly merges: Int32Array,
    private readonly stride: number,
  ) {
    for (let rank = 0; 3 * rank < merges.length; rank++) {
      const key = merges[3 * rank] * stride + merges[3 * rank + 1];
      // Keep the first occurrence of a duplicated merge: it has the lower, winning rank.
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    }
  }

  private rank(left: number, right: number): number | undefined {
    return this.ranks.get(left * this.stride + right);
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
