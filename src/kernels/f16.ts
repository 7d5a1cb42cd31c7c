import { UserError } from "../errors.js";
import { f16Table, f32ToF16 } from "../io/half.js";

/**
 * F16 matrices store the half of w · 2^F16_SHIFT, not of w. Widened by moving bits (all wasm
 * has), a half below 2^-14 (a subnormal) becomes an f32 denormal, which x86 multiplies in
 * microcode, and wasm cannot flush denormals: 0.24% of such weights made F16 decode 22% slower.
 * Times 2^10, every nonzero half of a weight is normal. The price: |w| can be at most 63.97.
 */
export const F16_SHIFT = 10;
const SCALE = 2 ** F16_SHIFT;
const MAX_ABS = 65504 / SCALE;

/** The stored half for weight w: w rounded to IEEE half precision (as torch's .half()), then shifted exactly. */
export function toWeightHalf(w: number): number {
  const h = f32ToF16(w);
  const exponent = (h >> 10) & 0x1f;
  if (exponent === 0) return (h & 0x3ff) === 0 ? h : f32ToF16(f16Table()[h] * SCALE); // ±0 / subnormal
  if (exponent + F16_SHIFT >= 0x1f) {
    throw new UserError(`weight ${w} is too large for F16 storage, which holds |w| ≤ ${MAX_ABS}; load with dtype f32 or q8`);
  }
  return h + (F16_SHIFT << 10);
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/**
 * toWeightHalf of the f32 whose bits are `bits` (as an Int32Array view of the floats reads
 * them), in integer arithmetic for the weights whose half is normal and fits (|w| in [2^-14, 64)),
 * which is nearly all; loading GPT-2-124M in F16 took 0.86 s this way and 1.65 s through
 * toWeightHalf. The rest goes through toWeightHalf.
 */
export function weightHalfOfBits(bits: number): number {
  const exponent = (bits >>> 23) & 0xff;
  if (exponent >= 113 && exponent <= 132) {
    const mantissa = bits & 0x7fffff;
    // Round to nearest even without a branch (random weights would mispredict half the time):
    // 0xfff plus the kept lowest bit carries into bit 13 exactly when rounding up, and a carry
    // out of the mantissa goes on into the exponent, biased for a half (e − 112) and shifted.
    const rounded = (mantissa + 0xfff + ((mantissa >>> 13) & 1)) >>> 13;
    const h = ((exponent - 112 + F16_SHIFT) << 10) + rounded;
    if (h < 0x7c00) return ((bits >>> 16) & 0x8000) | h;
  }
  i32[0] = bits;
  return toWeightHalf(f32[0]);
}

let weightLookup: Float32Array | null = null;
/** Stored half → weight, for all 65536 (256 KB, built once). */
export function weightHalfTable(): Float32Array {
  if (weightLookup === null) weightLookup = f16Table().map((v) => v / SCALE);
  return weightLookup;
}
