// Q4_K matmul: ggml's super-blocks of 256 weights, eight sub-blocks of 32 with 6-bit scales sc and
// mins m, and per super-block an f16 d and dmin: w = d·sc·q − dmin·m, q a nibble 0..15. Loading
// repacks each super-block (src/kernels/q4k.ts) into what the q4 kernel reads: every sub-block's
// 16 bytes of nibbles in Q4_0's order (byte j: element j low, j + 16 high), d and dmin as two f32,
// and the sixteen 6-bit values as bytes (sc0..sc7, m0..m7).
//
// x is quantized as ggml's Q8_K is (quantizeQ4KX): one f32 scale xs per 256 values, int8 values
// in q4.ts's per-32 layout (so the integer sums Σ q·x per sub-block are q4.ts's), and each
// sub-block's Σ x as i16. Then a super-block is, exactly in integers until one conversion,
//   xs · (d · Σ_j sc_j · Σ q·x  −  dmin · Σ_j m_j · Σ x)
// Bounds (|x| ≤ 127, q ≤ 15, sc and m ≤ 63): a sub-block's Σ q·x ≤ 32·15·127 = 60960, times sc
// ≤ 3.85e6, over 8 sub-blocks ≤ 3.08e7; Σ x ≤ 4064, times m over 8 ≤ 2.05e6; all < 2^31. The
// relaxed build's i16 pair sums stay ≤ 7620 (q4.ts) before the scale multiplies them. Every path
// (packed or unpacked weights, one, two or four x rows, either build) makes the same two integers per
// super-block and the same f32 operations on them, so a row's result is the same bits on any
// path, batch position or thread count.
// The relaxed build's one x row can also sum each sub-block straight into i32 lanes (`dotAdd`, the
// matmulQ4KDotAdd export; see q4.ts): each lane then holds 8 products (≤ 8·15·127 = 15240), so two
// sub-blocks' lanes narrow to i16 exactly and meet their two scales in one widening dot.
import { hmax, transposeSum4i } from "./math";
import { biasAt } from "./matmul";
import { blockDot, quantizeBlock, relaxedHalvesDot, unpackedDot } from "./q4";

/** Sub-blocks per super-block, and the bytes of one quantized x sub-block (q4.ts's layout). */
const SUBS: usize = 8;
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Bytes of one sub-block's nibbles. */
const WB: usize = 16;
/** The baseline's sums carry a factor 256 (q4.ts): every product is a multiple of 256, so the shift is exact. */
const SUM_SHIFT: i32 = 8;

/**
 * x (supers·256 f32) → xq (XB bytes per 32), xs: one f32 amax / 127 per 256, xm: one i16 Σ q
 * per 32. q = round-half-even(x · 127 / amax) over the 256 values (Q8_K's grid, ±127).
 */
export function quantizeQ4KX(xq: usize, xs: usize, xm: usize, x: usize, supers: i32): void {
  for (let k = 0; k < supers; k++) {
    let m = f32x4.splat(0);
    for (let i: usize = 0; i < 1024; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(x + i)));
    const amax = hmax(m);
    store<f32>(xs, amax / 127);
    const inv = f32x4.splat(amax == 0 ? <f32>0 : <f32>127 / amax);
    for (let j: usize = 0; j < SUBS; j++) store<i16>(xm + (j << 1), <i16>quantizeBlock(xq + j * XB, x + (j << 7), inv));
    x += 1024;
    xq += SUBS * XB;
    xs += 4;
    xm += SUBS * 2;
  }
}

/**
 * Relaxed: a sub-block's i16 pair sums s times its scale while widening: sc2 holds each scale
 * twice per i32 lane (see superDot), k (a constant 0..3) picks which. A four-lane i32 shuffle of
 * one vector is one pshufd, where an i16 pattern is a byte shuffle whose mask TurboFan builds again
 * at every use.
 */
@inline
function scaled(s: v128, sc2: v128, k: i32): v128 {
  switch (k) {
    case 0: return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 0, 0, 0, 0));
    case 1: return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 1, 1, 1, 1));
    case 2: return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 2, 2, 2, 2));
    default: return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 3, 3, 3, 3));
  }
}

/**
 * Relaxed, dotAdd: the i32 lanes of two sub-blocks, narrowed to i16 (exact: see the top of the
 * file), times their scales while widening: sc2 as for scaled, k (a constant 0 or 1) picks its
 * first two scales or its last two.
 */
@inline
function scaledPair(s0: v128, s1: v128, sc2: v128, k: i32): v128 {
  const s = i16x8.narrow_i32x4_s(s0, s1);
  if (k == 0) return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 0, 0, 1, 1));
  return i32x4.dot_i16x8_s(s, v128.shuffle<i32>(sc2, sc2, 2, 2, 3, 3));
}

/** Baseline: four sub-blocks' i32x4 sums (·256) → [Σ_0, Σ_1, Σ_2, Σ_3] · [sc...] (sc4: i32 lanes). */
@inline
function scaled4(s0: v128, s1: v128, s2: v128, s3: v128, sc4: v128): v128 {
  return i32x4.mul(i32x4.shr_s(transposeSum4i(s0, s1, s2, s3), SUM_SHIFT), sc4);
}

/**
 * One super-block's f32 terms from its integer sums: `p` i32 lanes summing to Σ_j sc_j·Σ q·x, the
 * mins' Σ_j m_j·Σ x from the x sums at xm. Returns [P, M, P, M] · [d, dmin, d, dmin] · xs.
 */
@inline
function superTerms(p: v128, bytes: v128, xm: usize, xs: usize, dm: usize): v128 {
  const mins = i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(bytes), v128.load(xm));
  const a = i32x4.add(v128.shuffle<i32>(p, mins, 0, 4, 1, 5), v128.shuffle<i32>(p, mins, 2, 6, 3, 7));
  const t = i32x4.add(a, v128.shuffle<i32>(a, a, 2, 3, 0, 1));
  return f32x4.mul(f32x4.convert_i32x4_s(t), f32x4.mul(v128.load64_splat(dm), v128.load32_splat(xs)));
}

/** A row's result from its accumulated [P, M, ·, ·] terms. */
@inline
function rowResult(acc: v128): f32 {
  return f32x4.extract_lane(acc, 0) - f32x4.extract_lane(acc, 1);
}

/** superDot's relaxed dotAdd way: sub-blocks summed in i32 lanes, two per widening (scaledPair). */
@inline
function superDotAdd(xq: usize, wq: usize, lo: v128, hi: v128, sink: usize, m0: v128, m1: v128, m2: v128): v128 {
  let p = scaledPair(blockDot(xq, wq, m0, m1, m2, true), blockDot(xq + XB, wq + WB, m0, m1, m2, true), lo, 0);
  v128.store32_lane(sink, p, 0);
  p = i32x4.add(p, scaledPair(blockDot(xq + 2 * XB, wq + 2 * WB, m0, m1, m2, true), blockDot(xq + 3 * XB, wq + 3 * WB, m0, m1, m2, true), lo, 1));
  v128.store32_lane(sink, p, 0);
  p = i32x4.add(p, scaledPair(blockDot(xq + 4 * XB, wq + 4 * WB, m0, m1, m2, true), blockDot(xq + 5 * XB, wq + 5 * WB, m0, m1, m2, true), hi, 0));
  v128.store32_lane(sink, p, 0);
  return i32x4.add(p, scaledPair(blockDot(xq + 6 * XB, wq + 6 * WB, m0, m1, m2, true), blockDot(xq + 7 * XB, wq + 7 * WB, m0, m1, m2, true), hi, 1));
}

/**
 * Σ_j sc_j · Σ q·x of one super-block of packed nibbles, as i32 lanes. `sink` is a 4-byte slot
 * only this thread writes: a store after each pair of sub-blocks fences the next loads behind it,
 * so TurboFan does not hoist them all to the loop top and spill (as in q4.ts).
 */
@inline
function superDot(xq: usize, wq: usize, bytes: v128, sink: usize, m0: v128, m1: v128, m2: v128, dotAdd: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const sc = i16x8.extend_low_i8x16_u(bytes);
    // [sc0, sc0, sc1, sc1, sc2, sc2, sc3, sc3] and the same of sc4..sc7 (one unpack each): every
    // scale vector below is one i32 shuffle of them.
    const lo = v128.shuffle<i16>(sc, sc, 0, 0, 1, 1, 2, 2, 3, 3), hi = v128.shuffle<i16>(sc, sc, 4, 4, 5, 5, 6, 6, 7, 7);
    if (dotAdd) return superDotAdd(xq, wq, lo, hi, sink, m0, m1, m2);
    let p = scaled(blockDot(xq, wq, m0, m1, m2, false), lo, 0);
    p = i32x4.add(p, scaled(blockDot(xq + XB, wq + WB, m0, m1, m2, false), lo, 1));
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, scaled(blockDot(xq + 2 * XB, wq + 2 * WB, m0, m1, m2, false), lo, 2));
    p = i32x4.add(p, scaled(blockDot(xq + 3 * XB, wq + 3 * WB, m0, m1, m2, false), lo, 3));
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, scaled(blockDot(xq + 4 * XB, wq + 4 * WB, m0, m1, m2, false), hi, 0));
    p = i32x4.add(p, scaled(blockDot(xq + 5 * XB, wq + 5 * WB, m0, m1, m2, false), hi, 1));
    v128.store32_lane(sink, p, 0);
    p = i32x4.add(p, scaled(blockDot(xq + 6 * XB, wq + 6 * WB, m0, m1, m2, false), hi, 2));
    return i32x4.add(p, scaled(blockDot(xq + 7 * XB, wq + 7 * WB, m0, m1, m2, false), hi, 3));
  }
  const sc = i16x8.extend_low_i8x16_u(bytes);
  const s0 = blockDot(xq, wq, m0, m1, m2, false);
  const s1 = blockDot(xq + XB, wq + WB, m0, m1, m2, false);
  v128.store32_lane(sink, s1, 0);
  const s2 = blockDot(xq + 2 * XB, wq + 2 * WB, m0, m1, m2, false);
  const s3 = blockDot(xq + 3 * XB, wq + 3 * WB, m0, m1, m2, false);
  const lo = scaled4(s0, s1, s2, s3, i32x4.extend_low_i16x8_u(sc));
  v128.store32_lane(sink, lo, 0);
  const s4 = blockDot(xq + 4 * XB, wq + 4 * WB, m0, m1, m2, false);
  const s5 = blockDot(xq + 5 * XB, wq + 5 * WB, m0, m1, m2, false);
  v128.store32_lane(sink, s5, 0);
  const s6 = blockDot(xq + 6 * XB, wq + 6 * WB, m0, m1, m2, false);
  const s7 = blockDot(xq + 7 * XB, wq + 7 * WB, m0, m1, m2, false);
  return i32x4.add(lo, scaled4(s4, s5, s6, s7, i32x4.extend_high_i16x8_u(sc)));
}

/** One weight row against one x row. */
@inline
function dotQ4K(xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, supers: i32, sink: usize, m0: v128, m1: v128, m2: v128, dotAdd: bool): f32 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    const bytes = v128.load(sm);
    const p = superDot(xq, wq, bytes, sink, m0, m1, m2, dotAdd);
    acc = f32x4.add(acc, superTerms(p, bytes, xm, xs, dm));
    xq += SUBS * XB;
    wq += SUBS * WB;
    xs += 4;
    xm += SUBS * 2;
    sm += 16;
    dm += 8;
  }
  return rowResult(acc);
}

/**
 * Batches (n > 1): each weight row is unpacked once into the thread's scratch, UK bytes per
 * sub-block: its nibbles as q4.ts's unpackRow leaves them, then its scale splat in the lanes the
 * sums have (relaxed: i16, for the widening dot; baseline: i32, for a multiply after the exact
 * shift). Every x row then meets it with loads only; the integers per super-block are superDot's.
 */
const UK: usize = ASC_FEATURE_RELAXED_SIMD ? 48 : 80;

/**
 * Unpacked weight bytes per tile of rows in a batch: each four x rows stay in L1 while the tile's
 * rows stream past them from L2 (see q4.ts).
 */
const TILE_BYTES: usize = 64 << 10;

/** Weight rows per tile for `nb` sub-blocks per row: at least one. */
@inline
function tileRows(nb: i32): i32 {
  return max(1, <i32>(TILE_BYTES / (<usize>nb * UK)));
}

/** Bytes of scratch matmulQ4K needs per thread for `cols` columns (n > 1): one tile of unpacked rows. */
export function q4kScratchBytes(cols: i32): i32 {
  const nb = cols >> 5;
  return tileRows(nb) * nb * <i32>UK;
}

@inline
function unpackRowQ4K(u: usize, w: usize, sm: usize, supers: i32, m0: v128, m1: v128, m2: v128): void {
  for (let k = 0; k < supers; k++) {
    for (let j: usize = 0; j < SUBS; j++) {
      const v = v128.load(w);
      const sc = load<u8>(sm + j);
      if (ASC_FEATURE_RELAXED_SIMD) {
        v128.store(u, v128.and(v, m0));
        v128.store(u, v128.and(i16x8.shr_u(v, 4), m0), 16);
        v128.store(u, i16x8.splat(sc), 32);
      } else {
        v128.store(u, v128.and(v, m0));
        v128.store(u, v128.and(v, m1), 16);
        v128.store(u, v128.and(v, m2), 32);
        v128.store(u, i16x8.shr_u(v, 12), 48);
        v128.store(u, i32x4.splat(sc), 64);
      }
      w += WB;
      u += UK;
    }
    sm += 16;
  }
}

/** One super-block of an unpacked row against x: superDot's integer, in other lanes. */
@inline
function superDotUnpacked(x: usize, u: usize): v128 {
  let p = i32x4.splat(0);
  for (let j: usize = 0; j < SUBS; j++) {
    if (ASC_FEATURE_RELAXED_SIMD) {
      p = i32x4.add(p, i32x4.dot_i16x8_s(relaxedHalvesDot(x, v128.load(u), v128.load(u, 16), false), v128.load(u, 32)));
    } else {
      const s = unpackedDot(x, v128.load(u), v128.load(u, 16), v128.load(u, 32), v128.load(u, 48));
      p = i32x4.add(p, i32x4.mul(i32x4.shr_s(s, SUM_SHIFT), v128.load(u, 64)));
    }
    x += XB;
    u += UK;
  }
  return p;
}

/** dotQ4K over an unpacked row. */
@inline
function dotQ4KUnpacked(xq: usize, xs: usize, xm: usize, u: usize, sm: usize, dm: usize, supers: i32): f32 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    acc = f32x4.add(acc, superTerms(superDotUnpacked(xq, u), v128.load(sm), xm, xs, dm));
    xq += SUBS * XB;
    u += SUBS * UK;
    xs += 4;
    xm += SUBS * 2;
    sm += 16;
    dm += 8;
  }
  return rowResult(acc);
}

/** Two x rows against one unpacked row: each unpacked vector loaded once for both. Same integers, same order. */
@inline
function dotQ4KUnpacked2(out0: usize, out1: usize, xq: usize, xs: usize, xm: usize, xStride: usize, sStride: usize, mStride: usize, u: usize, sm: usize, dm: usize, supers: i32, b: f32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0);
    let x0 = xq, uj = u;
    for (let j: usize = 0; j < SUBS; j++) {
      const x1 = x0 + xStride;
      if (ASC_FEATURE_RELAXED_SIMD) {
        const lo = v128.load(uj), hi = v128.load(uj, 16), sc = v128.load(uj, 32);
        p0 = i32x4.add(p0, i32x4.dot_i16x8_s(relaxedHalvesDot(x0, lo, hi, false), sc));
        p1 = i32x4.add(p1, i32x4.dot_i16x8_s(relaxedHalvesDot(x1, lo, hi, false), sc));
      } else {
        const e0 = v128.load(uj), e1 = v128.load(uj, 16), e2 = v128.load(uj, 32), e3 = v128.load(uj, 48), sc = v128.load(uj, 64);
        p0 = i32x4.add(p0, i32x4.mul(i32x4.shr_s(unpackedDot(x0, e0, e1, e2, e3), SUM_SHIFT), sc));
        p1 = i32x4.add(p1, i32x4.mul(i32x4.shr_s(unpackedDot(x1, e0, e1, e2, e3), SUM_SHIFT), sc));
      }
      x0 += XB;
      uj += UK;
    }
    const bytes = v128.load(sm);
    acc0 = f32x4.add(acc0, superTerms(p0, bytes, xm, xs, dm));
    acc1 = f32x4.add(acc1, superTerms(p1, bytes, xm + mStride, xs + sStride, dm));
    xq += SUBS * XB;
    u += SUBS * UK;
    xs += 4;
    xm += SUBS * 2;
    sm += 16;
    dm += 8;
  }
  store<f32>(out0, rowResult(acc0) + b);
  store<f32>(out1, rowResult(acc1) + b);
}

/**
 * Four x rows (x, x + xStride, ...) against one unpacked row, each unpacked vector loaded once for
 * all four, one lane per x row: per super-block each row's integers are superDotUnpacked's, made
 * [P₀..P₃] and [M₀..M₃], and meet the same products d·xs and dmin·xs as superTerms' lanes 0 and 1;
 * the sums and the result (P terms less M terms, then the bias) follow dotQ4KUnpacked's order, so
 * every row gets the bits it gets alone.
 */
@inline
function dotQ4KUnpacked4(o: usize, oStride: usize, xq: usize, xs: usize, xm: usize, xStride: usize, sStride: usize, mStride: usize, u: usize, sm: usize, dm: usize, supers: i32, b: f32): void {
  let accP = f32x4.splat(0), accM = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    let p0 = i32x4.splat(0), p1 = i32x4.splat(0), p2 = i32x4.splat(0), p3 = i32x4.splat(0);
    let x0 = xq, uj = u;
    for (let j: usize = 0; j < SUBS; j++) {
      const x1 = x0 + xStride, x2 = x0 + 2 * xStride, x3 = x0 + 3 * xStride;
      if (ASC_FEATURE_RELAXED_SIMD) {
        const lo = v128.load(uj), hi = v128.load(uj, 16), sc = v128.load(uj, 32);
        // A store after the first two rows fences the other two rows' loads behind it (see below).
        p0 = i32x4.add(p0, i32x4.dot_i16x8_s(relaxedHalvesDot(x0, lo, hi, false), sc));
        p1 = i32x4.add(p1, i32x4.dot_i16x8_s(relaxedHalvesDot(x1, lo, hi, false), sc));
        v128.store32_lane(o, p1, 0);
        p2 = i32x4.add(p2, i32x4.dot_i16x8_s(relaxedHalvesDot(x2, lo, hi, false), sc));
        p3 = i32x4.add(p3, i32x4.dot_i16x8_s(relaxedHalvesDot(x3, lo, hi, false), sc));
        v128.store32_lane(o, p3, 0);
      } else {
        const e0 = v128.load(uj), e1 = v128.load(uj, 16), e2 = v128.load(uj, 32), e3 = v128.load(uj, 48), sc = v128.load(uj, 64);
        // A store after each row fences the next row's loads behind it (see q4.ts's quadBlock).
        p0 = i32x4.add(p0, i32x4.mul(i32x4.shr_s(unpackedDot(x0, e0, e1, e2, e3), SUM_SHIFT), sc));
        v128.store32_lane(o, p0, 0);
        p1 = i32x4.add(p1, i32x4.mul(i32x4.shr_s(unpackedDot(x1, e0, e1, e2, e3), SUM_SHIFT), sc));
        v128.store32_lane(o, p1, 0);
        p2 = i32x4.add(p2, i32x4.mul(i32x4.shr_s(unpackedDot(x2, e0, e1, e2, e3), SUM_SHIFT), sc));
        v128.store32_lane(o, p2, 0);
        p3 = i32x4.add(p3, i32x4.mul(i32x4.shr_s(unpackedDot(x3, e0, e1, e2, e3), SUM_SHIFT), sc));
        v128.store32_lane(o, p3, 0);
      }
      x0 += XB;
      uj += UK;
    }
    const mins = i16x8.extend_high_i8x16_u(v128.load(sm));
    const m0 = i32x4.dot_i16x8_s(mins, v128.load(xm)), m1 = i32x4.dot_i16x8_s(mins, v128.load(xm + mStride));
    const m2 = i32x4.dot_i16x8_s(mins, v128.load(xm + 2 * mStride)), m3 = i32x4.dot_i16x8_s(mins, v128.load(xm + 3 * mStride));
    const xsq = v128.load32_lane(xs + 3 * sStride, v128.load32_lane(xs + 2 * sStride, v128.load32_lane(xs + sStride, v128.load32_zero(xs), 1), 2), 3);
    const d = v128.load32_splat(dm), dmin = v128.load32_splat(dm + 4);
    accP = f32x4.add(accP, f32x4.mul(f32x4.convert_i32x4_s(transposeSum4i(p0, p1, p2, p3)), f32x4.mul(d, xsq)));
    accM = f32x4.add(accM, f32x4.mul(f32x4.convert_i32x4_s(transposeSum4i(m0, m1, m2, m3)), f32x4.mul(dmin, xsq)));
    xq += SUBS * XB;
    u += SUBS * UK;
    xs += 4;
    xm += SUBS * 2;
    sm += 16;
    dm += 8;
  }
  const sum = f32x4.add(f32x4.sub(accP, accM), f32x4.splat(b));
  v128.store32_lane(o, sum, 0);
  v128.store32_lane(o + oStride, sum, 1);
  v128.store32_lane(o + 2 * oStride, sum, 2);
  v128.store32_lane(o + 3 * oStride, sum, 3);
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs, xm from quantizeQ4KX over
 * n·cols values (cols a multiple of 256); wq the repacked nibbles (rows·cols / 2 bytes), sm the
 * sub-blocks' scale and min bytes (16 per super-block), dm each super-block's d and dmin (f32);
 * scratch holds q4kScratchBytes(cols) bytes of this thread's own (n > 1 only).
 */
export function matmulQ4K(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ4KRows(out, xq, xs, xm, wq, sm, dm, bias, n, rows, cols, r0, r1, scratch, false);
}

/** matmulQ4K with the relaxed build's one x row summed in i32 (see the top of the file): the same bits. */
export function matmulQ4KDotAdd(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ4KRows(out, xq, xs, xm, wq, sm, dm, bias, n, rows, cols, r0, r1, scratch, true);
}

@inline
function matmulQ4KRows(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, dotAdd: bool): void {
  if (n >= 4) {
    matmulQ4KTiles(out, xq, xs, xm, wq, sm, dm, bias, n, rows, cols, r0, r1, scratch);
    return;
  }
  const supers = cols >> 8;
  const nb = cols >> 5;
  const xStride = <usize>nb * XB;
  const sStride = <usize>supers << 2;
  const mStride = <usize>nb << 1;
  const outStride = <usize>rows << 2;
  // The nibble masks, from a value the compilers cannot see (see matmulQ4).
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m0 = ASC_FEATURE_RELAXED_SIMD ? v128.and(ones, i8x16.splat(0x0f)) : i16x8.shr_u(ones, 12);
  const m1 = i16x8.shl(m0, 8), m2 = i16x8.shl(m0, 4);
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * (<usize>nb * WB);
    const smr = sm + (<usize>r * <usize>supers << 4);
    const dmr = dm + (<usize>r * <usize>supers << 3);
    const b = biasAt(bias, r);
    const o = out + (<usize>r << 2);
    if (n > 1) {
      unpackRowQ4K(scratch, wr, smr, supers, m0, m1, m2);
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const oi = o + <usize>i * outStride;
        dotQ4KUnpacked2(oi, oi + outStride, xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, xStride, sStride, mStride, scratch, smr, dmr, supers, b);
      }
      for (; i < n; i++) {
        const oi = o + <usize>i * outStride;
        store<f32>(oi, dotQ4KUnpacked(xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, scratch, smr, dmr, supers) + b);
      }
      continue;
    }
    store<f32>(o, dotQ4K(xq, xs, xm, wr, smr, dmr, supers, o, m0, m1, m2, dotAdd) + b);
  }
}

/**
 * matmulQ4K of four x rows or more: a tile of weight rows is unpacked once into scratch, then
 * every four x rows meet it (then a pair, then one).
 */
function matmulQ4KTiles(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  const supers = cols >> 8;
  const nb = cols >> 5;
  const xStride = <usize>nb * XB;
  const sStride = <usize>supers << 2;
  const mStride = <usize>nb << 1;
  const uBytes = <usize>nb * UK;
  const outStride = <usize>rows << 2;
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m0 = ASC_FEATURE_RELAXED_SIMD ? v128.and(ones, i8x16.splat(0x0f)) : i16x8.shr_u(ones, 12);
  const m1 = i16x8.shl(m0, 8), m2 = i16x8.shl(m0, 4);
  const tile = tileRows(nb);
  for (let t0 = r0; t0 < r1; t0 += tile) {
    const t1 = min(r1, t0 + tile);
    unpackRowQ4K(scratch, wq + <usize>t0 * (<usize>nb * WB), sm + (<usize>t0 * <usize>supers << 4), (t1 - t0) * supers, m0, m1, m2);
    let i = 0;
    for (; i + 3 < n; i += 4) {
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        dotQ4KUnpacked4(o, outStride, xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, xStride, sStride, mStride, scratch + <usize>(r - t0) * uBytes, sm + (<usize>r * <usize>supers << 4), dm + (<usize>r * <usize>supers << 3), supers, biasAt(bias, r));
      }
    }
    for (; i + 1 < n; i += 2) {
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        dotQ4KUnpacked2(o, o + outStride, xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, xStride, sStride, mStride, scratch + <usize>(r - t0) * uBytes, sm + (<usize>r * <usize>supers << 4), dm + (<usize>r * <usize>supers << 3), supers, biasAt(bias, r));
      }
    }
    if (i < n) {
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        store<f32>(o, dotQ4KUnpacked(xq + <usize>i * xStride, xs + <usize>i * sStride, xm + <usize>i * mStride, scratch + <usize>(r - t0) * uBytes, sm + (<usize>r * <usize>supers << 4), dm + (<usize>r * <usize>supers << 3), supers) + biasAt(bias, r));
      }
    }
  }
}
