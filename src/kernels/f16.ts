import { UserError } from "../errors.js";
import { f16Table, f32BitsToF16, f32ToF16 } from "../numeric/half.js";

/**
 * F16 matrices store the half of w · 2^F16_SHIFT, not of w. Widened by moving bits (all wasm
 * has), a half below 2^-14 (a subnormal) becomes an f32 denormal, which x86 multiplies in
 * microcode, and wasm cannot flush denormals: a small share of such weights slows F16 decode down
 * markedly.
 * Times 2^10, every nonzero half of a weight is normal. The price: |w| can be at most 63.97.
 */
export const F16_SHIFT = 10;
const SCALE = 2 ** F16_SHIFT;
const MAX_ABS = 65504 / SCALE;

/** The error for a weight F16 storage cannot hold (|w| > 63.97, inf or NaN), naming it. */
export function tooLargeForF16(w: number): UserError {
  return new UserError(`weight ${w} is too large for F16 storage, which holds |w| ≤ ${MAX_ABS}; load with dtype f32 or q8`);
}

/** The stored half for weight w: w rounded to IEEE half precision (as torch's .half()), then shifted exactly. */
export function toWeightHalf(w: number): number {
  const h = f32ToF16(w);
  if (!fitsShifted(h)) throw tooLargeForF16(w);
  return shift(h);
}

/** toWeightHalf of the f32 whose bits are `bits` (an Int32Array view of the floats): the reference loaders' path. */
export function weightHalfOfBits(bits: number): number {
  const h = f32BitsToF16(bits);
  if (!fitsShifted(h)) {
    i32[0] = bits;
    throw tooLargeForF16(f32[0]);
  }
  return shift(h);
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

function fitsShifted(h: number): boolean {
  return ((h >> 10) & 0x1f) + F16_SHIFT < 0x1f;
}

/** IEEE half of w → half of w · 2^F16_SHIFT; a subnormal becomes normal (exactly: it has fewer bits). */
function shift(h: number): number {
  if ((h & 0x7c00) !== 0) return h + (F16_SHIFT << 10);
  return (h & 0x3ff) === 0 ? h : f32ToF16(f16Table()[h] * SCALE);
}

let weightLookup: Float32Array | null = null;
/** Stored half → weight, for all 65536 (256 KB, built once). */
export function weightHalfTable(): Float32Array {
  if (weightLookup === null) weightLookup = f16Table().map((v) => v / SCALE);
  return weightLookup;
}
