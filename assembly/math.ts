// Vector exp(x) for f32 lanes, Cephes-style: x = k·ln2 + r with |r| ≤ ln2/2, then a degree-6
// minimax polynomial for e^r (≈ 1 ulp) scaled by 2^k built in the exponent bits.

// Clamped so that 2^k stays a normal float: exp(-87) ≈ 1.6e-38 is as good as 0 for softmax.
const EXP_LO: f32 = -87.0;
const EXP_HI: f32 = 88.0;
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
/** 1.5·2^23: adding it rounds to an integer in the add itself and leaves k in the low mantissa bits. */
export const ROUND_F32: f32 = 12582912.0;

@inline
export function expPoly(r: v128): v128 {
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  return f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
}

/**
 * 2^k from lanes whose low bits hold integer k in [-126, 128] (128 gives +inf). The shift drops
 * everything above those bits, which is why the rounding constant's own bits need no removal.
 */
@inline
export function pow2Bits(kBits: v128): v128 {
  return i32x4.shl(i32x4.add(kBits, i32x4.splat(127)), 23);
}

// pmin/pmax rather than min/max: they are single minps/maxps on x64, and NaN ordering is moot here.
@inline
export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(EXP_LO)), f32x4.splat(EXP_HI));
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(LOG2E)), f32x4.splat(ROUND_F32));
  const kf = f32x4.sub(t, f32x4.splat(ROUND_F32));
  let r = f32x4.sub(x, f32x4.mul(kf, f32x4.splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(kf, f32x4.splat(LN2_LO)));
  return f32x4.mul(expPoly(r), pow2Bits(t));
}

/**
 * a·b + c. The relaxed build (kernels-relaxed.wasm, used where the engine runs relaxed SIMD)
 * fuses it into one FMA: half the arithmetic instructions of the matmul inner loops.
 */
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline
export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

@inline
export function hmax(v: v128): f32 {
  const m = f32x4.max(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
}

/** [Σa, Σb, Σc, Σd] of four f32x4 (or i32x4 with the integer add). */
@inline
export function transposeSum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

@inline
export function transposeSum4i(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/**
 * xs[0..len) = x · scale (a power of two, so exact while in range). Returns 1 if every |x| is
 * below `limit`, else 0 (also for NaN): the caller then must not use the scaled copy.
 */
export function scaleExactly(xs: usize, x: usize, len: i32, scale: f32, limit: f32): i32 {
  let m = f32x4.splat(0);
  const s = f32x4.splat(scale);
  const end4 = x + (<usize>(len & ~3) << 2);
  while (x < end4) {
    const v = v128.load(x);
    m = f32x4.max(m, f32x4.abs(v));
    v128.store(xs, f32x4.mul(v, s));
    x += 16;
    xs += 16;
  }
  let big = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  const end = end4 + (<usize>(len & 3) << 2);
  while (x < end) {
    const v = load<f32>(x);
    big = max(big, abs(v));
    store<f32>(xs, v * scale);
    x += 4;
    xs += 4;
  }
  return big < limit ? 1 : 0;
}
