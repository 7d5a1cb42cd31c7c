// IEEE halves of the f16 KV cache, read as f32 in registers. A half's exponent and mantissa
// moved to where f32 keeps them (a shift and a mask) read as its value · 2^-112: exact for every
// finite half, a subnormal one becoming an f32 denormal. The cache never holds inf or NaN (the
// host refuses to store them), which this reading would get wrong.
// Attention multiplies what it reads by something else — keys by q, values by softmax weights —
// so it scales that side by 2^112 instead (scaleForHalves; the weights as it loads them), and
// every product is the one of the f32 values, exactly: the f32 cache's bits for the same values.
// The multiply by 2^112 happens per element (halves4) only where q is too large to scale.

import { scaleExactly } from "./math";

/** 2^112: the difference of the f32 and half exponent biases (127 − 15), as a factor. */
export const TWO_112: f32 = 5.192296858534828e33;
/** |x| · 2^112 stays finite below this. */
const MAX_SCALED: f32 = 65536; // 2^16

/** Four halves, sign-extended to i32 lanes (v128.load16x4_s), as their values · 2^-112. */
@inline
export function moved4(h: v128): v128 {
  return v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff));
}

/** Four halves, sign-extended to i32 lanes, as their values. */
@inline
export function halves4(h: v128): v128 {
  return f32x4.mul(moved4(h), f32x4.splat(TWO_112));
}

/** The half at p as its value · 2^-112. */
@inline
export function movedAt(p: usize): f32 {
  const h = <u32>load<u16>(p);
  return reinterpret<f32>(((h & 0x7fff) << 13) | ((h & 0x8000) << 16));
}

/** The half at p as its value. */
@inline
export function halfAt(p: usize): f32 {
  return movedAt(p) * TWO_112;
}

/**
 * xs[0..len) = x · 2^112, exactly, for attention over halves. Returns 0, and attention must read
 * the halves as their values (halves4), if some |x| ≥ 2^16 (or NaN): its scaled value would not be exact.
 */
export function scaleForHalves(xs: usize, x: usize, len: i32): i32 {
  return scaleExactly(xs, x, len, TWO_112, MAX_SCALED);
}
