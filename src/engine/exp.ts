/**
 * e^x for x ≤ 0, as the sampler needs it: one per vocabulary entry per generated token, where
 * V8's Math.exp (a call into C per element) was most of a token's sampling time. Tang's table
 * method: x = (k/256)·ln 2 + r with |r| ≤ ln 2/512, so e^x = 2^(k div 256) · 2^((k mod 256)/256) · e^r,
 * the two powers of two from tables and e^r from its Taylor polynomial to r⁴ (truncation below
 * 2⁻⁵⁴ of the result). Within 2 ulp of the exact value. Results below the smallest normal double
 * are 0 rather than subnormal: nothing that small can change a draw, and subnormal arithmetic
 * is slow. Plain double arithmetic, so every engine gives the same bits.
 */
export function expNonPositive(x: number): number {
  if (!(x > MIN_NORMAL_X)) return x === x ? 0 : x; // NaN stays NaN
  const kf = x * INV_STEP + ROUND - ROUND; // x / step rounded to an integer, without a call
  const r = x - kf * STEP_HI - kf * STEP_LO;
  const k = kf | 0;
  const j = k & (STEPS - 1);
  const p = 1 + r * (1 + r * (1 / 2 + r * (1 / 6 + r * (1 / 24))));
  return TWO_POW_J[j] * p * TWO_POW_NEG[(j - k) >> LOG2_STEPS];
}

const LOG2_STEPS = 8;
const STEPS = 1 << LOG2_STEPS;
/** ln 2 split as fdlibm does: the high part's 32 significant bits make k·STEP_HI exact for |k| < 2²¹. */
const STEP_HI = 6.93147180369123816490e-1 / STEPS;
const STEP_LO = 1.90821492927058770002e-10 / STEPS;
const INV_STEP = STEPS / Math.LN2;
/** 1.5 · 2⁵²: adding it leaves no fraction bits, so the sum is rounded to an integer (to nearest even). */
const ROUND = 6755399441055744;
/** ln of the smallest normal double, 2⁻¹⁰²², rounded up. */
const MIN_NORMAL_X = -708.39;
/** 2^(j/256), j = 0..255. */
const TWO_POW_J = Float64Array.from({ length: STEPS }, (_, j) => 2 ** (j / STEPS));
/** 2^-m, m = 0..1022: exact powers of two. */
const TWO_POW_NEG = Float64Array.from({ length: 1023 }, (_, m) => 2 ** -m);
