// IEEE halves (the f16 KV cache) widened exactly to f32, subnormals, infinities and NaN included.
// F16 weights avoid subnormal halves by storing w · 2^10 (assembly/f16.ts); cached keys and
// values are plain halves, so a subnormal one is rebuilt from a normal f32 by an exact
// subtraction rather than by multiplying an f32 denormal, which x86 does in microcode.

/** 2^-14, the smallest normal half: a subnormal half's value is its mantissa bits' offset from it. */
const HALF_MIN_NORMAL: f32 = 6.103515625e-5;
/** Half exponent bias 15 → f32 bias 127, in f32's exponent field. */
const REBIAS: i32 = 112 << 23;

/**
 * Four halves, sign-extended to i32 lanes (v128.load16x4_s), as f32. Normal halves: exponent and
 * mantissa moved to f32's place and the exponent rebiased; infinities and NaN: rebiased twice, to
 * f32's all-ones exponent; subnormal halves (exponent 0): rebiased one further as the normal
 * 2^-14·(1 + m/1024), less 2^-14. The sign-extended load leaves the sign in bit 31.
 */
@inline
export function halves4(h: v128): v128 {
  const e = v128.and(h, i32x4.splat(0x7fff));
  let o = i32x4.add(i32x4.shl(e, 13), i32x4.splat(REBIAS));
  o = i32x4.add(o, v128.and(i32x4.gt_s(e, i32x4.splat(0x7bff)), i32x4.splat(REBIAS)));
  const sub = f32x4.sub(i32x4.add(o, i32x4.splat(1 << 23)), f32x4.splat(HALF_MIN_NORMAL));
  o = v128.bitselect(sub, o, i32x4.lt_s(e, i32x4.splat(0x400)));
  return v128.or(o, v128.and(h, i32x4.splat(0x80000000)));
}

/** The half at p as f32, as halves4 widens it. */
@inline
export function halfAt(p: usize): f32 {
  const h = <i32>load<u16>(p);
  const e = h & 0x7fff;
  let o = (e << 13) + REBIAS;
  if (e > 0x7bff) o += REBIAS;
  else if (e < 0x400) o = reinterpret<i32>(reinterpret<f32>(o + (1 << 23)) - HALF_MIN_NORMAL);
  return reinterpret<f32>(o | ((h & 0x8000) << 16));
}
