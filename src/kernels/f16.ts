import { UserError } from "../errors.js";
import { f16Table, f32ToF16 } from "../io/half.js";

/**
 * F16 matrices store the half of w · 2^F16_SHIFT, not of w. Widened by moving bits (all wasm
 * has), a half below 2^-14 (a subnormal) becomes an f32 denormal, which x86 multiplies in
 * microcode, and wasm cannot flush denormals: 0.24% of such weights made F16 decode 25% slower.
 * Times 2^10, every nonzero half of a weight is normal. The price: |w| must stay below 64.
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
    throw new UserError(`weight ${w} is too large for F16 storage (|w| must be below ${MAX_ABS}); load with dtype f32 or q8`);
  }
  return h + (F16_SHIFT << 10);
}

let weightLookup: Float32Array | null = null;
/** Stored half → weight, for all 65536 (256 KB, built once). */
export function weightHalfTable(): Float32Array {
  if (weightLookup === null) weightLookup = f16Table().map((v) => v / SCALE);
  return weightLookup;
}
