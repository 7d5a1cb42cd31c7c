/**
 * The sampler's selections over candidate ids by score: top-k (quickselect) and the nucleus of
 * top-p, without sorting the vocabulary. Higher scores come first, lower ids first on ties, so
 * results never depend on sort stability.
 */

function before(a: number, b: number, scores: Float64Array): boolean {
  return scores[a] > scores[b] || (scores[a] === scores[b] && a < b);
}

/** Moves the k best of ids[lo, hi) into ids[lo, lo + k) (in no particular order): quickselect. */
export function selectTop(ids: Int32Array, lo: number, hi: number, k: number, scores: Float64Array): void {
  const kth = lo + k - 1;
  let l = lo;
  let h = hi - 1;
  while (l < h) {
    const pivot = ids[(l + h) >>> 1];
    let i = l;
    let j = h;
    while (i <= j) {
      while (before(ids[i], pivot, scores)) i++;
      while (before(pivot, ids[j], scores)) j--;
      if (i <= j) {
        const t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        i++;
        j--;
      }
    }
    if (kth <= j) h = j;
    else if (kth >= i) l = i;
    else return;
  }
}

/** Sorts ids[lo, hi) best first: quicksort down to short runs, then insertion sort. */
function sortRange(ids: Int32Array, lo: number, hi: number, scores: Float64Array): void {
  while (hi - lo > 16) {
    const pivot = ids[(lo + hi - 1) >>> 1];
    let i = lo;
    let j = hi - 1;
    while (i <= j) {
      while (before(ids[i], pivot, scores)) i++;
      while (before(pivot, ids[j], scores)) j--;
      if (i <= j) {
        const t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        i++;
        j--;
      }
    }
    // Recurse into the shorter side, loop on the longer: the stack stays logarithmic.
    if (j - lo < hi - i) {
      sortRange(ids, lo, j + 1, scores);
      lo = i;
    } else {
      sortRange(ids, i, hi, scores);
      hi = j + 1;
    }
  }
  for (let i = lo + 1; i < hi; i++) {
    const id = ids[i];
    let j = i - 1;
    for (; j >= lo && before(id, ids[j], scores); j--) ids[j + 1] = ids[j];
    ids[j + 1] = id;
  }
}

/**
 * How many of ids[lo, hi), best first, it takes for their scores to add up to `target`
 * (all of them if they never do); those come first, sorted. The answer is usually a few ids,
 * so a growing top slice is selected and sorted, not the whole range.
 */
function sortedPrefix(ids: Int32Array, lo: number, hi: number, target: number, scores: Float64Array): number {
  const n = hi - lo;
  for (let m = Math.min(64, n); ; m = Math.min(m * 4, n)) {
    if (m < n) selectTop(ids, lo, hi, m, scores);
    sortRange(ids, lo, lo + m, scores);
    let cumulative = 0;
    for (let i = 0; i < m; i++) {
      cumulative += scores[ids[lo + i]];
      if (cumulative >= target) return i + 1;
    }
    if (m === n) return n;
  }
}

/** The nucleus search's bins: BINS_PER_NAT per e-fold below the most likely candidate, the last open-ended. */
const NUCLEUS_BINS = 1024;
const BINS_PER_NAT = 16;

/** The bin of a candidate whose score is e^x of the best one's (x ≤ 0). */
export function nucleusBin(x: number): number {
  return Math.min(NUCLEUS_BINS - 1, Math.floor(-x * BINS_PER_NAT));
}

/** Working memory of `nucleus`, allocated once per sampler; the sampler fills `bins`. */
export class NucleusScratch {
  readonly bins: Uint16Array; // (V,) each id's nucleusBin
  readonly spill: Int32Array; // (V,) the ids of the bin where the nucleus ends
  readonly mass = new Float64Array(NUCLEUS_BINS);

  constructor(vocabSize: number) {
    this.bins = new Uint16Array(vocabSize);
    this.spill = new Int32Array(vocabSize);
  }
}

/**
 * Top-p: keeps the smallest set of the most likely of ids[0, n) whose scores add up to p of
 * theirs, and returns its size; the kept ids come first. A histogram of the scores by bin finds
 * the bin where the mass reaches p: the ids of the bins before it are all kept (in their order),
 * and only the ids of that bin are sorted to find where to stop.
 */
export function nucleus(ids: Int32Array, n: number, p: number, scores: Float64Array, s: NucleusScratch): number {
  const { mass, bins, spill } = s;
  mass.fill(0);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    mass[bins[id]] += scores[id];
    total += scores[id];
  }
  const target = p * total;
  let above = 0; // the mass of the bins before `edge`
  let edge = 0;
  while (edge < NUCLEUS_BINS - 1 && above + mass[edge] < target) above += mass[edge++];
  // Stable partition: bins before the edge, then the edge bin; the rest are dropped.
  let kept = 0;
  let spilled = 0;
  for (let i = 0; i < n; i++) {
    const id = ids[i];
    const b = bins[id];
    if (b < edge) ids[kept++] = id;
    else if (b === edge) spill[spilled++] = id;
  }
  for (let i = 0; i < spilled; i++) ids[kept + i] = spill[i];
  return kept + sortedPrefix(ids, kept, kept + spilled, target - above, scores);
}
