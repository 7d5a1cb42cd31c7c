// Q6_K matmul: ggml's super-blocks of 256 weights, sixteen sub-blocks of 16 with int8 scales sc,
// and an f16 d per super-block (widened to f32 at load): w = d·sc·(q − 32), q 0..63. Loading
// repacks the 6-bit values (src/kernels/q6k.ts) so that 64 weights are three 16-byte vectors:
// three of the four vectors V are their low 6 bits (one mask each), the fourth their top bit
// pairs (three masks, three i16 shifts, two ors). Each i16 lane of a V holds two weights of one
// sub-block, lane k of sub-block k of its half super-block, so one i32x4.dot_i16x8_s against the
// half's eight scales (as i16, no shuffle) scales a pair of vectors.
//
// x is quantized as ggml's Q8_K (quantizeQ6KX): one f32 scale xs per 256, int8 values in V's
// order, and each sub-block's Σ x as i16 (the bsums). A super-block is then, in integers until
// one conversion, xs · d · (Σ_j sc_j · Σ q·x − 32 · Σ_j sc_j · Σ x): q stays unsigned, as the
// relaxed dot's 7-bit operand wants, and the offset costs two dots per super-block.
//   relaxed: i16x8.relaxed_dot_i8x16_i7x16_s(x, V) (deterministic for V ≤ 127): pair sums
//     ≤ 2·63·127, a pair of vectors' added in i16 (≤ 32004), then the scale dot widens;
//   baseline: V's low and high halves widened to i16 and dotted with x stored as i16 in the same
//     order, each i32 lane one sub-block's sum, times the scales in i32 once per half super-block;
//     a batch's unpacked row holds the widened halves already times their scales (|63·sc| ≤ 8064).
// Bounds: |Σ_j sc_j·Σ q·x| ≤ 16·128·16·63·127 < 2.7e8, 32·|Σ_j sc_j·Σ x| ≤ 1.4e8: exact in i32.
// Every path (packed or unpacked weights, one or two x rows, either build) makes the same integer
// per super-block and the same f32 operations on it, so a row's result is the same bits on any
// path, batch position, thread count or build.
import { hmax, transposeSum4i } from "./math";

/** Bytes of quantized x per pair of vectors V (relaxed: i8; baseline: i16). */
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Pairs of vectors V per super-block, and bytes of repacked q per unit of two pairs. */
const PAIRS: usize = 8;
const UNIT: usize = 48;
/** Repacked q bytes per super-block. */
const QB: usize = 192;

/** The 8×8 transpose of i16 elements of rows r0..r7, column t stored at out + t·stride. */
@inline
function transpose8(out: usize, stride: usize, r0: v128, r1: v128, r2: v128, r3: v128, r4: v128, r5: v128, r6: v128, r7: v128): void {
  const a0 = v128.shuffle<i16>(r0, r1, 0, 8, 1, 9, 2, 10, 3, 11), a1 = v128.shuffle<i16>(r0, r1, 4, 12, 5, 13, 6, 14, 7, 15);
  const a2 = v128.shuffle<i16>(r2, r3, 0, 8, 1, 9, 2, 10, 3, 11), a3 = v128.shuffle<i16>(r2, r3, 4, 12, 5, 13, 6, 14, 7, 15);
  const a4 = v128.shuffle<i16>(r4, r5, 0, 8, 1, 9, 2, 10, 3, 11), a5 = v128.shuffle<i16>(r4, r5, 4, 12, 5, 13, 6, 14, 7, 15);
  const a6 = v128.shuffle<i16>(r6, r7, 0, 8, 1, 9, 2, 10, 3, 11), a7 = v128.shuffle<i16>(r6, r7, 4, 12, 5, 13, 6, 14, 7, 15);
  const b0 = v128.shuffle<i32>(a0, a2, 0, 4, 1, 5), b1 = v128.shuffle<i32>(a0, a2, 2, 6, 3, 7);
  const b2 = v128.shuffle<i32>(a1, a3, 0, 4, 1, 5), b3 = v128.shuffle<i32>(a1, a3, 2, 6, 3, 7);
  const b4 = v128.shuffle<i32>(a4, a6, 0, 4, 1, 5), b5 = v128.shuffle<i32>(a4, a6, 2, 6, 3, 7);
  const b6 = v128.shuffle<i32>(a5, a7, 0, 4, 1, 5), b7 = v128.shuffle<i32>(a5, a7, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i64>(b0, b4, 0, 2));
  v128.store(out + stride, v128.shuffle<i64>(b0, b4, 1, 3));
  v128.store(out + 2 * stride, v128.shuffle<i64>(b1, b5, 0, 2));
  v128.store(out + 3 * stride, v128.shuffle<i64>(b1, b5, 1, 3));
  v128.store(out + 4 * stride, v128.shuffle<i64>(b2, b6, 0, 2));
  v128.store(out + 5 * stride, v128.shuffle<i64>(b2, b6, 1, 3));
  v128.store(out + 6 * stride, v128.shuffle<i64>(b3, b7, 0, 2));
  v128.store(out + 7 * stride, v128.shuffle<i64>(b3, b7, 1, 3));
}

/** Four values of x at x → q = round-half-even(x · inv) as i32 lanes. */
@inline
function q4(x: usize, inv: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x), inv)));
}

/**
 * One sub-block of 16 values → its quantized values as i16 (lo: 0..7, hi: 8..15), written to
 * `rows` (32 bytes), and Σ q as an i32x4 whose lanes sum to it.
 */
@inline
function quantizeSub(rows: usize, x: usize, inv: v128): v128 {
  const q0 = q4(x, inv), q1 = q4(x + 16, inv), q2 = q4(x + 32, inv), q3 = q4(x + 48, inv);
  v128.store(rows, i16x8.narrow_i32x4_s(q0, q1));
  v128.store(rows, i16x8.narrow_i32x4_s(q2, q3), 16);
  return i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
}

/**
 * Half a super-block (sub-blocks k = 0..7 of 16 values) from its i16 rows (32 bytes each) → xq in
 * the weights' order: vector t holds weights 2t, 2t + 1 of every sub-block (relaxed: bytes
 * 2k, 2k + 1 of one 16-byte vector; baseline: lane k of an even and an odd i16 vector).
 */
@inline
function storeHalf(xq: usize, rows: usize): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    transpose8(xq, 16,
      i8x16.narrow_i16x8_s(v128.load(rows), v128.load(rows, 16)), i8x16.narrow_i16x8_s(v128.load(rows, 32), v128.load(rows, 48)),
      i8x16.narrow_i16x8_s(v128.load(rows, 64), v128.load(rows, 80)), i8x16.narrow_i16x8_s(v128.load(rows, 96), v128.load(rows, 112)),
      i8x16.narrow_i16x8_s(v128.load(rows, 128), v128.load(rows, 144)), i8x16.narrow_i16x8_s(v128.load(rows, 160), v128.load(rows, 176)),
      i8x16.narrow_i16x8_s(v128.load(rows, 192), v128.load(rows, 208)), i8x16.narrow_i16x8_s(v128.load(rows, 224), v128.load(rows, 240)));
    return;
  }
  // Baseline: the same bytes widened to i16, each vector's low half (sub-blocks 0..3) then its high half.
  transpose8(xq, 32,
    i8x16.narrow_i16x8_s(v128.load(rows), v128.load(rows, 16)), i8x16.narrow_i16x8_s(v128.load(rows, 32), v128.load(rows, 48)),
    i8x16.narrow_i16x8_s(v128.load(rows, 64), v128.load(rows, 80)), i8x16.narrow_i16x8_s(v128.load(rows, 96), v128.load(rows, 112)),
    i8x16.narrow_i16x8_s(v128.load(rows, 128), v128.load(rows, 144)), i8x16.narrow_i16x8_s(v128.load(rows, 160), v128.load(rows, 176)),
    i8x16.narrow_i16x8_s(v128.load(rows, 192), v128.load(rows, 208)), i8x16.narrow_i16x8_s(v128.load(rows, 224), v128.load(rows, 240)));
  for (let t: usize = 0; t < 8; t++) {
    const v = v128.load(xq + (t << 5));
    v128.store(xq + (t << 5), i16x8.extend_low_i8x16_s(v));
    v128.store(xq + (t << 5), i16x8.extend_high_i8x16_s(v), 16);
  }
}

/**
 * x (supers·256 f32) → xq (XB bytes per 32, storeHalf's order), xs: one f32 amax / 127 per 256,
 * xm: one i16 Σ q per 16 in order. q = round-half-even(x · 127 / amax) over the 256 values
 * (Q8_K's grid, ±127). `rows` is 512 bytes of the caller's scratch.
 */
export function quantizeQ6KX(xq: usize, xs: usize, xm: usize, x: usize, supers: i32, rows: usize): void {
  for (let k = 0; k < supers; k++) {
    let m = f32x4.splat(0);
    for (let i: usize = 0; i < 1024; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(x + i)));
    const amax = hmax(m);
    store<f32>(xs, amax / 127);
    const inv = f32x4.splat(amax == 0 ? <f32>0 : <f32>127 / amax);
    for (let h: usize = 0; h < 2; h++) {
      const xh = x + (h << 9), r = rows + (h << 8);
      const s0 = quantizeSub(r, xh, inv), s1 = quantizeSub(r + 32, xh + 64, inv);
      const s2 = quantizeSub(r + 64, xh + 128, inv), s3 = quantizeSub(r + 96, xh + 192, inv);
      const s4 = quantizeSub(r + 128, xh + 256, inv), s5 = quantizeSub(r + 160, xh + 320, inv);
      const s6 = quantizeSub(r + 192, xh + 384, inv), s7 = quantizeSub(r + 224, xh + 448, inv);
      v128.store(xm + (h << 4), i16x8.narrow_i32x4_s(transposeSum4i(s0, s1, s2, s3), transposeSum4i(s4, s5, s6, s7)));
      storeHalf(xq + h * (PAIRS / 2) * XB, r);
    }
    x += 1024;
    xq += PAIRS * XB;
    xs += 4;
    xm += 32;
  }
}

/** A unit's fourth vector V, from the top two bits of its three (mc0: 0xc0 in every byte). */
@inline
function fourth(a: v128, b: v128, c: v128, mc0: v128): v128 {
  // Masked before the i16 shifts, so nothing crosses into the neighbouring byte.
  const lo = i16x8.shr_u(v128.and(a, mc0), 6), mid = i16x8.shr_u(v128.and(b, mc0), 4);
  return v128.or(v128.or(lo, mid), i16x8.shr_u(v128.and(c, mc0), 2));
}

/** Relaxed: a pair's scaled sums from its two vectors V0, V1 against x (i8, V's order). */
@inline
function relaxedPair(x: usize, va: v128, vb: v128, sc: v128): v128 {
  const s = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), va), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 16), vb));
  return i32x4.dot_i16x8_s(s, sc);
}

/**
 * Baseline: one vector V's low and high halves (sub-blocks 0..3, 4..7 of its half super-block)
 * widened and times their scales (sc: the half's eight as i16), as a batch's unpacked row holds them.
 */
@inline
function lowScaled(v: v128, sc: v128): v128 {
  return i16x8.mul(i16x8.extend_low_i8x16_u(v), v128.shuffle<i16>(sc, sc, 0, 0, 1, 1, 2, 2, 3, 3));
}
@inline
function highScaled(v: v128, sc: v128): v128 {
  return i16x8.mul(i16x8.extend_high_i8x16_u(v), v128.shuffle<i16>(sc, sc, 4, 4, 5, 5, 6, 6, 7, 7));
}

/** Baseline: four scaled i16 vectors (V0 low, V0 high, V1 low, V1 high) against x (i16, the same order). */
@inline
function baselinePairScaled(x: usize, l0: v128, h0: v128, l1: v128, h1: v128): v128 {
  const d0 = i32x4.dot_i16x8_s(l0, v128.load(x)), d1 = i32x4.dot_i16x8_s(h0, v128.load(x, 16));
  const d2 = i32x4.dot_i16x8_s(l1, v128.load(x, 32)), d3 = i32x4.dot_i16x8_s(h1, v128.load(x, 48));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

/** Relaxed: one unit (two pairs, 64 weights at w, their half's scales sc) against x: i32 lanes of Σ sc·q·x. */
@inline
function unitDot(x: usize, w: usize, sc: v128, m3f: v128, mc0: v128): v128 {
  const a = v128.load(w), b = v128.load(w, 16), c = v128.load(w, 32);
  const p = relaxedPair(x, v128.and(a, m3f), v128.and(b, m3f), sc);
  return i32x4.add(p, relaxedPair(x + XB, v128.and(c, m3f), fourth(a, b, c, mc0), sc));
}

/**
 * Baseline: one vector V against x (i16, its low then high half): the sums of sub-blocks 0..3 of
 * its half super-block added to lo's lanes, of 4..7 to hi's. Each lane stays one sub-block's, so
 * the scales multiply once per half (halfDot) instead of once per vector.
 */
@inline
function widenedDot(x: usize, v: v128, lo: v128, hi: v128, high: bool): v128 {
  if (high) return i32x4.add(hi, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(v), v128.load(x, 16)));
  return i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(v), v128.load(x)));
}

/** Baseline: half a super-block (two units at w, x at x, the half's scales sc as i16): i32 lanes of Σ sc·q·x. */
@inline
function halfDot(x: usize, w: usize, sc: v128, sink: usize, m3f: v128, mc0: v128): v128 {
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  for (let u: usize = 0; u < 2; u++) {
    const a = v128.load(w), b = v128.load(w, 16), c = v128.load(w, 32);
    const v0 = v128.and(a, m3f), v1 = v128.and(b, m3f), v2 = v128.and(c, m3f), v3 = fourth(a, b, c, mc0);
    lo = widenedDot(x, v0, lo, hi, false);
    hi = widenedDot(x, v0, lo, hi, true);
    lo = widenedDot(x + 32, v1, lo, hi, false);
    hi = widenedDot(x + 32, v1, lo, hi, true);
    v128.store32_lane(sink, hi, 0);
    lo = widenedDot(x + 64, v2, lo, hi, false);
    hi = widenedDot(x + 64, v2, lo, hi, true);
    lo = widenedDot(x + 96, v3, lo, hi, false);
    hi = widenedDot(x + 96, v3, lo, hi, true);
    v128.store32_lane(sink, hi, 0);
    w += UNIT;
    x += 2 * XB;
  }
  return i32x4.add(i32x4.mul(lo, i32x4.extend_low_i16x8_s(sc)), i32x4.mul(hi, i32x4.extend_high_i16x8_s(sc)));
}

/**
 * The super-block's one integer Σ_j sc_j·Σ (q − 32)·x from the lanes `p` of Σ sc·q·x, its scales
 * as i16 (lo: sub-blocks 0..7, hi: 8..15) and x's sums at xm.
 */
@inline
function superInt(p: v128, lo: v128, hi: v128, xm: usize): i32 {
  const m = i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(xm)), i32x4.dot_i16x8_s(hi, v128.load(xm, 16)));
  let t = i32x4.sub(p, i32x4.shl(m, 5));
  t = i32x4.add(t, v128.shuffle<i32>(t, t, 2, 3, 0, 1));
  return i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1);
}

/**
 * One weight row against one x row. `sink` is a 4-byte slot only this thread writes: a store
 * after each unit fences the next loads behind it, so TurboFan does not hoist them all to the
 * loop top and spill (as in q4.ts).
 */
@inline
function dotQ6K(xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, supers: i32, sink: usize, m3f: v128, mc0: v128): f32 {
  let acc: f32 = 0;
  for (let k = 0; k < supers; k++) {
    const bytes = v128.load(sm);
    const lo = i16x8.extend_low_i8x16_s(bytes), hi = i16x8.extend_high_i8x16_s(bytes);
    let p: v128;
    if (ASC_FEATURE_RELAXED_SIMD) {
      p = unitDot(xq, wq, lo, m3f, mc0);
      v128.store32_lane(sink, p, 0);
      p = i32x4.add(p, unitDot(xq + 2 * XB, wq + UNIT, lo, m3f, mc0));
      v128.store32_lane(sink, p, 0);
      p = i32x4.add(p, unitDot(xq + 4 * XB, wq + 2 * UNIT, hi, m3f, mc0));
      v128.store32_lane(sink, p, 0);
      p = i32x4.add(p, unitDot(xq + 6 * XB, wq + 3 * UNIT, hi, m3f, mc0));
    } else {
      p = i32x4.add(halfDot(xq, wq, lo, sink, m3f, mc0), halfDot(xq + 4 * XB, wq + 2 * UNIT, hi, sink, m3f, mc0));
    }
    acc += <f32>superInt(p, lo, hi, xm) * (load<f32>(dm) * load<f32>(xs));
    xq += PAIRS * XB;
    wq += QB;
    xs += 4;
    xm += 32;
    sm += 16;
    dm += 4;
  }
  return acc;
}

/**
 * Batches (n > 1): each weight row is unpacked once into the thread's scratch, per super-block
 * its scales as i16 (32 bytes: each half's eight) then UK bytes per pair — relaxed: V0, V1;
 * baseline: V0 and V1's even and odd bytes already times their scales (i16). Every x row then
 * meets it with loads only; the integers per super-block are dotQ6K's.
 */
const UK: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
const US: usize = 32 + PAIRS * UK;

/** Scratch bytes per thread: one unpacked weight row of `cols` (n > 1), and quantizeQ6KX's rows (on the calling thread, before). */
export function q6kScratchBytes(cols: i32): i32 {
  return max((cols >> 8) * <i32>US, 512);
}

@inline
function unpackPair(u: usize, va: v128, vb: v128, sc: v128): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(u, va);
    v128.store(u, vb, 16);
  } else {
    v128.store(u, lowScaled(va, sc));
    v128.store(u, highScaled(va, sc), 16);
    v128.store(u, lowScaled(vb, sc), 32);
    v128.store(u, highScaled(vb, sc), 48);
  }
}

@inline
function unpackUnit(u: usize, w: usize, sc: v128, m3f: v128, mc0: v128): void {
  const a = v128.load(w), b = v128.load(w, 16), c = v128.load(w, 32);
  unpackPair(u, v128.and(a, m3f), v128.and(b, m3f), sc);
  unpackPair(u + UK, v128.and(c, m3f), fourth(a, b, c, mc0), sc);
}

@inline
function unpackRowQ6K(u: usize, w: usize, sm: usize, supers: i32, m3f: v128, mc0: v128): void {
  for (let k = 0; k < supers; k++) {
    const bytes = v128.load(sm);
    const lo = i16x8.extend_low_i8x16_s(bytes), hi = i16x8.extend_high_i8x16_s(bytes);
    v128.store(u, lo);
    v128.store(u, hi, 16);
    const p = u + 32;
    unpackUnit(p, w, lo, m3f, mc0);
    unpackUnit(p + 2 * UK, w + UNIT, lo, m3f, mc0);
    unpackUnit(p + 4 * UK, w + 2 * UNIT, hi, m3f, mc0);
    unpackUnit(p + 6 * UK, w + 3 * UNIT, hi, m3f, mc0);
    w += QB;
    sm += 16;
    u += US;
  }
}

/** One unpacked pair at u (its half's scales at sc) against x: pairDot's integers. */
@inline
function unpackedPairDot(x: usize, u: usize, sc: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedPair(x, v128.load(u), v128.load(u, 16), v128.load(sc));
  return baselinePairScaled(x, v128.load(u), v128.load(u, 16), v128.load(u, 32), v128.load(u, 48));
}

/** dotQ6K over an unpacked row. */
@inline
function dotQ6KUnpacked(xq: usize, xs: usize, xm: usize, u: usize, dm: usize, supers: i32): f32 {
  let acc: f32 = 0;
  for (let k = 0; k < supers; k++) {
    let p = i32x4.splat(0);
    for (let j: usize = 0; j < PAIRS; j++) p = i32x4.add(p, unpackedPairDot(xq + j * XB, u + 32 + j * UK, u + ((j >> 2) << 4)));
    acc += <f32>superInt(p, v128.load(u), v128.load(u, 16), xm) * (load<f32>(dm) * load<f32>(xs));
    xq += PAIRS * XB;
    u += US;
    xs += 4;
    xm += 32;
    dm += 4;
  }
  return acc;
}

/** Two x rows against one unpacked row: each unpacked vector loaded once for both. Same integers, same order. */
@inline
function dotQ6KUnpacked2(out0: usize, out1: usize, xq: usize, xs: usize, xm: usize, xStride: usize, sStride: usize, mStride: usize, u: usize, dm: usize, supers: i32, b: f32): void {
  let acc0: f32 = 0, acc1: f32 = 0;
  for (let k = 0; k < supers; k++) {
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0);
    let x0 = xq, uj = u + 32;
    for (let j: usize = 0; j < PAIRS; j++) {
      const x1 = x0 + xStride;
      if (ASC_FEATURE_RELAXED_SIMD) {
        const va = v128.load(uj), vb = v128.load(uj, 16), sc = v128.load(u + ((j >> 2) << 4));
        p0 = i32x4.add(p0, relaxedPair(x0, va, vb, sc));
        p1 = i32x4.add(p1, relaxedPair(x1, va, vb, sc));
      } else {
        const l0 = v128.load(uj), h0 = v128.load(uj, 16), l1 = v128.load(uj, 32), h1 = v128.load(uj, 48);
        p0 = i32x4.add(p0, baselinePairScaled(x0, l0, h0, l1, h1));
        p1 = i32x4.add(p1, baselinePairScaled(x1, l0, h0, l1, h1));
      }
      x0 += XB;
      uj += UK;
    }
    const lo = v128.load(u), hi = v128.load(u, 16), d = load<f32>(dm);
    acc0 += <f32>superInt(p0, lo, hi, xm) * (d * load<f32>(xs));
    acc1 += <f32>superInt(p1, lo, hi, xm + mStride) * (d * load<f32>(xs + sStride));
    xq += PAIRS * XB;
    u += US;
    xs += 4;
    xm += 32;
    dm += 4;
  }
  store<f32>(out0, acc0 + b);
  store<f32>(out1, acc1 + b);
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs, xm from quantizeQ6KX over
 * n·cols values (cols a multiple of 256); wq the repacked 6-bit values (192 bytes per
 * super-block), sm the sub-blocks' int8 scales (16 per super-block), dm each super-block's d
 * (f32); scratch holds q6kScratchBytes(cols) bytes of this thread's own (one unpacked row, n > 1 only).
 */
export function matmulQ6K(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  const supers = cols >> 8;
  const xStride = <usize>supers * PAIRS * XB;
  const sStride = <usize>supers << 2;
  const mStride = <usize>supers << 5;
  const outStride = <usize>rows << 2;
  // The masks, from a value the compilers cannot see (see matmulQ4): 0x3f and 0xc0 in every byte.
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m3f = v128.and(ones, i8x16.splat(0x3f));
  const mc0 = v128.xor(ones, m3f);
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * (<usize>supers * QB);
    const smr = sm + (<usize>r * <usize>supers << 4);
    const dmr = dm + (<usize>r * <usize>supers << 2);
    const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
    const o = out + (<usize>r << 2);
    if (n > 1) {
      unpackRowQ6K(scratch, wr, smr, supers, m3f, mc0);
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const oi = o + <usize>i * outStride;
        dotQ6KUnpacked2(oi, oi + outStride, xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, xStride, sStride, mStride, scratch, dmr, supers, b);
      }
      for (; i < n; i++) {
        const oi = o + <usize>i * outStride;
        store<f32>(oi, dotQ6KUnpacked(xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, scratch, dmr, supers) + b);
      }
      continue;
    }
    store<f32>(o, dotQ6K(xq, xs, xm, wr, smr, dmr, supers, o, m3f, mc0) + b);
  }
}
