// Q6_K matmul: ggml's super-blocks of 256 weights, sixteen sub-blocks of 16 with int8 scales sc,
// and an f16 d per super-block (widened to f32 at load): w = d·sc·(q − 32), q 0..63. Loading
// repacks the 6-bit values (src/kernels/q6k.ts) so that 64 weights are three 16-byte vectors:
// three of the four vectors V are their low 6 bits (one mask each), the fourth their top bit
// pairs (three masks, three i16 shifts, two ors). In each V an i16 lane holds two weights of one
// sub-block, the lanes alternating between a pair of sub-blocks A, B. One i32x4.dot_i16x8_s against [sc_A, sc_B, sc_A, sc_B, ...] then scales a pair.
//
// x is quantized as ggml's Q8_K (quantizeQ6KX): one f32 scale xs per 256, int8 values in V's
// order, and each sub-block's Σ x as i16 (the bsums). A super-block is then, in integers until
// one conversion, xs · d · (Σ_j sc_j · Σ q·x − 32 · Σ_j sc_j · Σ x): q stays unsigned, as the
// relaxed dot's 7-bit operand wants, and the offset costs two dots per super-block.
//   relaxed: i16x8.relaxed_dot_i8x16_i7x16_s(x, V) (deterministic for V ≤ 127): pair sums
//     ≤ 2·63·127, both halves of a pair added in i16 (≤ 32004), then the scale dot widens;
//   baseline: V's even and odd bytes as i16 lanes (a mask, a shift), times the scales in i16
//     (|63·sc| ≤ 8064), then i32x4.dot_i16x8_s against x stored as i16 in the same order.
// Bounds: |Σ_j sc_j·Σ q·x| ≤ 16·128·16·63·127 < 2.7e8, 32·|Σ_j sc_j·Σ x| ≤ 1.4e8: exact in i32.
// Every path (packed or unpacked weights, one or two x rows, either build) makes the same integer
// per super-block and the same f32 operations on it, so a row's result is the same bits on any
// path, batch position, thread count or build.
import { hmax } from "./math";

/** Bytes of one pair of sub-blocks of quantized x (relaxed: i8; baseline: i16). */
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Pairs of sub-blocks per super-block, and bytes of repacked q per unit of two pairs. */
const PAIRS: usize = 8;
const UNIT: usize = 48;
/** Repacked q bytes per super-block. */
const QB: usize = 192;

/**
 * 32 values of x (sub-blocks A = x[0..15], B = x[16..31]) → XB bytes in V's order, q =
 * round-half-even(x · inv). Stores Σ q of A and of B as i16 at xm, xm + 2.
 */
@inline
function quantizePair(xq: usize, xm: usize, x: usize, inv: v128): void {
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x), inv)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 16), inv)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 32), inv)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 48), inv)));
  const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 64), inv)));
  const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 80), inv)));
  const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 96), inv)));
  const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 112), inv)));
  const sa = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
  const sb = i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7));
  let s = i32x4.add(v128.shuffle<i32>(sa, sb, 0, 1, 4, 5), v128.shuffle<i32>(sa, sb, 2, 3, 6, 7));
  s = i32x4.add(s, v128.shuffle<i32>(s, s, 1, 0, 3, 2));
  store<i16>(xm, <i16>i32x4.extract_lane(s, 0));
  store<i16>(xm, <i16>i32x4.extract_lane(s, 2), 2);
  const a = i16x8.narrow_i32x4_s(q0, q1), b = i16x8.narrow_i32x4_s(q2, q3); // A 0..7, A 8..15
  const c = i16x8.narrow_i32x4_s(q4, q5), d = i16x8.narrow_i32x4_s(q6, q7); // B 0..7, B 8..15
  if (ASC_FEATURE_RELAXED_SIMD) {
    const ab = i8x16.narrow_i16x8_s(a, b), cd = i8x16.narrow_i16x8_s(c, d);
    v128.store(xq, v128.shuffle<i16>(ab, cd, 0, 8, 1, 9, 2, 10, 3, 11));
    v128.store(xq, v128.shuffle<i16>(ab, cd, 4, 12, 5, 13, 6, 14, 7, 15), 16);
  } else {
    v128.store(xq, v128.shuffle<i16>(a, c, 0, 8, 2, 10, 4, 12, 6, 14));
    v128.store(xq, v128.shuffle<i16>(a, c, 1, 9, 3, 11, 5, 13, 7, 15), 16);
    v128.store(xq, v128.shuffle<i16>(b, d, 0, 8, 2, 10, 4, 12, 6, 14), 32);
    v128.store(xq, v128.shuffle<i16>(b, d, 1, 9, 3, 11, 5, 13, 7, 15), 48);
  }
}

/**
 * x (supers·256 f32) → xq (XB bytes per 32), xs: one f32 amax / 127 per 256, xm: one i16 Σ q
 * per 16. q = round-half-even(x · 127 / amax) over the 256 values (Q8_K's grid, ±127).
 */
export function quantizeQ6KX(xq: usize, xs: usize, xm: usize, x: usize, supers: i32): void {
  for (let k = 0; k < supers; k++) {
    let m = f32x4.splat(0);
    for (let i: usize = 0; i < 1024; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(x + i)));
    const amax = hmax(m);
    store<f32>(xs, amax / 127);
    const inv = f32x4.splat(amax == 0 ? <f32>0 : <f32>127 / amax);
    for (let p: usize = 0; p < PAIRS; p++) quantizePair(xq + p * XB, xm + (p << 2), x + (p << 7), inv);
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

/** Baseline: one vector V's even and odd bytes times the scales, as i16 (what a batch's unpacked row holds). */
@inline
function evenScaled(v: v128, sc: v128, m00ff: v128): v128 {
  return i16x8.mul(v128.and(v, m00ff), sc);
}
@inline
function oddScaled(v: v128, sc: v128): v128 {
  return i16x8.mul(i16x8.shr_u(v, 8), sc);
}

/** Baseline: four scaled i16 vectors (V0 even, V0 odd, V1 even, V1 odd) against x (i16, the same order). */
@inline
function baselinePairScaled(x: usize, e0: v128, o0: v128, e1: v128, o1: v128): v128 {
  const d0 = i32x4.dot_i16x8_s(e0, v128.load(x)), d1 = i32x4.dot_i16x8_s(o0, v128.load(x, 16));
  const d2 = i32x4.dot_i16x8_s(e1, v128.load(x, 32)), d3 = i32x4.dot_i16x8_s(o1, v128.load(x, 48));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

/** One pair's Σ sc·q·x as i32 lanes, from its vectors V0, V1 and its scales [sc_A, sc_B, ...] (i16). */
@inline
function pairDot(x: usize, va: v128, vb: v128, sc: v128, m00ff: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedPair(x, va, vb, sc);
  return baselinePairScaled(x, evenScaled(va, sc, m00ff), oddScaled(va, sc), evenScaled(vb, sc, m00ff), oddScaled(vb, sc));
}

/** One unit (two pairs, 64 weights at w) against x: i32 lanes of Σ sc·q·x. */
@inline
function unitDot(x: usize, w: usize, sa: v128, sb: v128, sink: usize, m3f: v128, mc0: v128, m00ff: v128): v128 {
  const a = v128.load(w), b = v128.load(w, 16), c = v128.load(w, 32);
  const p = pairDot(x, v128.and(a, m3f), v128.and(b, m3f), sa, m00ff);
  v128.store32_lane(sink, p, 0);
  return i32x4.add(p, pairDot(x + XB, v128.and(c, m3f), fourth(a, b, c, mc0), sb, m00ff));
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
function dotQ6K(xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, supers: i32, sink: usize, m3f: v128, mc0: v128, m00ff: v128): f32 {
  let acc: f32 = 0;
  for (let k = 0; k < supers; k++) {
    const bytes = v128.load(sm);
    const lo = i16x8.extend_low_i8x16_s(bytes), hi = i16x8.extend_high_i8x16_s(bytes);
    let p = unitDot(xq, wq, v128.shuffle<i32>(lo, lo, 0, 0, 0, 0), v128.shuffle<i32>(lo, lo, 1, 1, 1, 1), sink, m3f, mc0, m00ff);
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, unitDot(xq + 2 * XB, wq + UNIT, v128.shuffle<i32>(lo, lo, 2, 2, 2, 2), v128.shuffle<i32>(lo, lo, 3, 3, 3, 3), sink, m3f, mc0, m00ff));
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, unitDot(xq + 4 * XB, wq + 2 * UNIT, v128.shuffle<i32>(hi, hi, 0, 0, 0, 0), v128.shuffle<i32>(hi, hi, 1, 1, 1, 1), sink, m3f, mc0, m00ff));
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, unitDot(xq + 6 * XB, wq + 3 * UNIT, v128.shuffle<i32>(hi, hi, 2, 2, 2, 2), v128.shuffle<i32>(hi, hi, 3, 3, 3, 3), sink, m3f, mc0, m00ff));
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
 * its scales as i16 (32 bytes) then UK bytes per pair — relaxed: V0, V1 and the pair's scale
 * vector; baseline: V0 and V1's even and odd bytes already times their scales (i16). Every x row
 * then meets it with loads only; the integers per super-block are dotQ6K's.
 */
const UK: usize = ASC_FEATURE_RELAXED_SIMD ? 48 : 64;
const US: usize = 32 + PAIRS * UK;

/** Scratch bytes per weight row of `cols` (n > 1). */
export function q6kScratchBytes(cols: i32): i32 {
  return (cols >> 8) * <i32>US;
}

@inline
function unpackPair(u: usize, va: v128, vb: v128, sc: v128, m00ff: v128): void {
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(u, va);
    v128.store(u, vb, 16);
    v128.store(u, sc, 32);
  } else {
    v128.store(u, evenScaled(va, sc, m00ff));
    v128.store(u, oddScaled(va, sc), 16);
    v128.store(u, evenScaled(vb, sc, m00ff), 32);
    v128.store(u, oddScaled(vb, sc), 48);
  }
}

@inline
function unpackUnit(u: usize, w: usize, sa: v128, sb: v128, m3f: v128, mc0: v128, m00ff: v128): void {
  const a = v128.load(w), b = v128.load(w, 16), c = v128.load(w, 32);
  unpackPair(u, v128.and(a, m3f), v128.and(b, m3f), sa, m00ff);
  unpackPair(u + UK, v128.and(c, m3f), fourth(a, b, c, mc0), sb, m00ff);
}

@inline
function unpackRowQ6K(u: usize, w: usize, sm: usize, supers: i32, m3f: v128, mc0: v128, m00ff: v128): void {
  for (let k = 0; k < supers; k++) {
    const bytes = v128.load(sm);
    const lo = i16x8.extend_low_i8x16_s(bytes), hi = i16x8.extend_high_i8x16_s(bytes);
    v128.store(u, lo);
    v128.store(u, hi, 16);
    const p = u + 32;
    unpackUnit(p, w, v128.shuffle<i32>(lo, lo, 0, 0, 0, 0), v128.shuffle<i32>(lo, lo, 1, 1, 1, 1), m3f, mc0, m00ff);
    unpackUnit(p + 2 * UK, w + UNIT, v128.shuffle<i32>(lo, lo, 2, 2, 2, 2), v128.shuffle<i32>(lo, lo, 3, 3, 3, 3), m3f, mc0, m00ff);
    unpackUnit(p + 4 * UK, w + 2 * UNIT, v128.shuffle<i32>(hi, hi, 0, 0, 0, 0), v128.shuffle<i32>(hi, hi, 1, 1, 1, 1), m3f, mc0, m00ff);
    unpackUnit(p + 6 * UK, w + 3 * UNIT, v128.shuffle<i32>(hi, hi, 2, 2, 2, 2), v128.shuffle<i32>(hi, hi, 3, 3, 3, 3), m3f, mc0, m00ff);
    w += QB;
    sm += 16;
    u += US;
  }
}

/** One unpacked pair at u against x: pairDot's integers. */
@inline
function unpackedPairDot(x: usize, u: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedPair(x, v128.load(u), v128.load(u, 16), v128.load(u, 32));
  return baselinePairScaled(x, v128.load(u), v128.load(u, 16), v128.load(u, 32), v128.load(u, 48));
}

/** dotQ6K over an unpacked row. */
@inline
function dotQ6KUnpacked(xq: usize, xs: usize, xm: usize, u: usize, dm: usize, supers: i32): f32 {
  let acc: f32 = 0;
  for (let k = 0; k < supers; k++) {
    let p = i32x4.splat(0);
    for (let j: usize = 0; j < PAIRS; j++) p = i32x4.add(p, unpackedPairDot(xq + j * XB, u + 32 + j * UK));
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
        const va = v128.load(uj), vb = v128.load(uj, 16), sc = v128.load(uj, 32);
        p0 = i32x4.add(p0, relaxedPair(x0, va, vb, sc));
        p1 = i32x4.add(p1, relaxedPair(x1, va, vb, sc));
      } else {
        const e0 = v128.load(uj), o0 = v128.load(uj, 16), e1 = v128.load(uj, 32), o1 = v128.load(uj, 48);
        p0 = i32x4.add(p0, baselinePairScaled(x0, e0, o0, e1, o1));
        p1 = i32x4.add(p1, baselinePairScaled(x1, e0, o0, e1, o1));
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
  // The masks, from a value the compilers cannot see (see matmulQ4): 0x3f and 0xc0 in every byte,
  // 0x00ff in every i16 lane.
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m3f = v128.and(ones, i8x16.splat(0x3f));
  const mc0 = v128.xor(ones, m3f);
  const m00ff = i16x8.shr_u(ones, 8);
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * (<usize>supers * QB);
    const smr = sm + (<usize>r * <usize>supers << 4);
    const dmr = dm + (<usize>r * <usize>supers << 2);
    const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
    const o = out + (<usize>r << 2);
    if (n > 1) {
      unpackRowQ6K(scratch, wr, smr, supers, m3f, mc0, m00ff);
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
    store<f32>(o, dotQ6K(xq, xs, xm, wr, smr, dmr, supers, o, m3f, mc0, m00ff) + b);
  }
}
