// 4-bit matmul: weights are Q4_0 blocks of 32 (16 bytes of nibbles, byte j holding element j in
// its low half and element j + 16 in its high half, as ggml stores them; w = (nibble - 8) · scale,
// one f32 scale per block). Activations are quantized to int8 per block of 32 (as for q8), and
// each block's integer dot product is Σ nibble·x − 8·Σ x: the nibbles stay unsigned (0..15) and
// the offset costs one shift and one subtract per four blocks, with Σ x stored by the quantizer.
//
// The two builds unpack differently but compute the same integer sums, so the same bits:
//   baseline: an i16 lane k of the weights holds elements 2k (bits 0-3), 2k + 16 (4-7), 2k + 1
//     (8-11) and 2k + 17 (12-15). One mask or shift each leaves them as e, 16·e, 256·e and e, and
//     x is stored as i16 pre-scaled to match — 256·x, 16·x, x and 256·x (|256·x| ≤ 32512 fits),
//     each 16 as [even positions, odd positions] — so every product is 256·e·x and the sum meets
//     x's scale / 256 (exact: a power of two). i32x4.dot_i16x8_s does the multiplies;
//   relaxed: x is stored as i8 in order, its scale as is; the low and high nibbles, masked, are the
//     unsigned 7-bit operand of i16x8.relaxed_dot_i8x16_i7x16_s (deterministic for 0..127).
// The relaxed build can also sum a block straight into i32 lanes with
// i32x4.relaxed_dot_i8x16_i7x16_add_s (`dotAdd`, the matmulQ4DotAdd export), for any number of x
// rows: two instructions per block where the i16 way takes three, and fewer shuffles to sum four
// blocks or four x rows (reduce4). The backend takes it where it takes q8's
// (src/kernels/wasm/dot-probe.ts): one VNNI instruction there.
// The integers are the same, so the same bits.
import { hmax, hsum, transposeSum4i } from "./math";
import { biasAt } from "./matmul";

const QB: i32 = 32;
/** Bytes of one quantized 32-block of x. */
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** 8·Σx, in the sums' units: ·256 in the baseline build. */
const OFFSET_SHIFT: i32 = ASC_FEATURE_RELAXED_SIMD ? 3 : 11;
/** Bytes of one 32-block of weights' nibbles. */
const WB: usize = 16;

/**
 * x (blocks·32 f32) → xq (XB bytes per block, see above), xs: one f32 scale per block, xsum:
 * one i32 Σ q per block. q = round-half-even(x · 127 / amax), as q8's quantizeQ8.
 */
export function quantizeQ4X(xq: usize, xs: usize, xsum: usize, x: usize, blocks: i32): void {
  for (let b = 0; b < blocks; b++) {
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    const amax = hmax(m);
    // The baseline's sums carry a factor 256 (see the top of this file).
    store<f32>(xs, ASC_FEATURE_RELAXED_SIMD ? amax / 127 : (amax / 127) * (<f32>1 / 256));
    store<i32>(xsum, quantizeBlock(xq, x, f32x4.splat(amax == 0 ? <f32>0 : <f32>127 / amax)));
    x += 128;
    xq += XB;
    xs += 4;
    xsum += 4;
  }
}

/**
 * 32 values of x → one quantized block at xq (XB bytes, the layout at the top of this file):
 * q = round-half-even(x · inv), inv = 127 / amax of whatever span shares the scale. Returns Σ q.
 */
@inline
export function quantizeBlock(xq: usize, x: usize, inv: v128): i32 {
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x), inv)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 16), inv)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 32), inv)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 48), inv)));
  const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 64), inv)));
  const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 80), inv)));
  const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 96), inv)));
  const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(x, 112), inv)));
  let s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
  s = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
  const a = i16x8.narrow_i32x4_s(q0, q1), b16 = i16x8.narrow_i32x4_s(q2, q3);
  const c = i16x8.narrow_i32x4_s(q4, q5), d = i16x8.narrow_i32x4_s(q6, q7);
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(xq, i8x16.narrow_i16x8_s(a, b16));
    v128.store(xq, i8x16.narrow_i16x8_s(c, d), 16);
  } else {
    v128.store(xq, i16x8.shl(v128.shuffle<i16>(a, b16, 0, 2, 4, 6, 8, 10, 12, 14), 8));
    v128.store(xq, v128.shuffle<i16>(a, b16, 1, 3, 5, 7, 9, 11, 13, 15), 16);
    v128.store(xq, i16x8.shl(v128.shuffle<i16>(c, d, 0, 2, 4, 6, 8, 10, 12, 14), 4), 32);
    v128.store(xq, i16x8.shl(v128.shuffle<i16>(c, d, 1, 3, 5, 7, 9, 11, 13, 15), 8), 48);
  }
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/**
 * Σ nibble·x of one 32-block, partly summed: i32x4 lanes, times 256, in the baseline build (exact:
 * < 2^24); i16x8 lanes in the relaxed build (see relaxedHalvesDot), which reduce4 and widen finish,
 * or i32x4 lanes with dotAdd. The nibble masks m0, m1, m2 are made once per call from a runtime
 * value (see matmulQ4); in the relaxed build m1 is 1 in every i16 lane, for the widening.
 */
@inline
export function blockDot(x: usize, w: usize, m0: v128, m1: v128, m2: v128, dotAdd: bool): v128 {
  const v = v128.load(w);
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedDot(x, v, m0, dotAdd);
  return unpackedDot(x, v128.and(v, m0), v128.and(v, m1), v128.and(v, m2), i16x8.shr_u(v, 12));
}

/** Baseline: the four unpacked vectors (e, 256·e, 16·e, e) against x stored as 256·x, x, 16·x, 256·x. */
@inline
export function unpackedDot(x: usize, e0: v128, e1: v128, e2: v128, e3: v128): v128 {
  const d0 = i32x4.dot_i16x8_s(e0, v128.load(x));
  const d1 = i32x4.dot_i16x8_s(e1, v128.load(x, 16));
  const d2 = i32x4.dot_i16x8_s(e2, v128.load(x, 32));
  const d3 = i32x4.dot_i16x8_s(e3, v128.load(x, 48));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

/** Relaxed: the low and high nibbles of each byte (m: 0x0f in every byte) against x as i8, in order. */
@inline
function relaxedDot(x: usize, v: v128, m: v128, dotAdd: bool): v128 {
  return relaxedHalvesDot(x, v128.and(v, m), v128.and(i16x8.shr_u(v, 4), m), dotAdd);
}

/**
 * Relaxed: x (i8, in order) times the unpacked low (x[0..15]) and high (x[16..31]) nibbles, as
 * i16 lanes: pairs of products (|·| ≤ 2·15·128), both halves added (≤ 7680). Left in i16 so that
 * four blocks' lanes are summed four at a time (≤ 30720) before one widening (reduce4). With
 * dotAdd, i32 lanes of four products of each half (≤ 8·15·128 = 15360, so they also fit i16):
 * i32x4.relaxed_dot_i8x16_i7x16_add_s, which V8 11.3 (Node 20) computes wrongly before its
 * optimizing tier (the backend's probe sees it and keeps the i16 way there).
 */
@inline
export function relaxedHalvesDot(x: usize, lo: v128, hi: v128, dotAdd: bool): v128 {
  if (dotAdd) return i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x, 16), hi, i32x4.relaxed_dot_i8x16_i7x16_add_s(v128.load(x), lo, i32x4.splat(0)));
  return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(x, 16), hi));
}

/**
 * [Σa, Σb, Σc, Σd] as i32 of four blocks' partial sums: transposeSum4i, in the relaxed build's
 * i16 way on i16 pairs (each i16 lane then sums four of a block's, ≤ 30720: exact) with one
 * widening dot against `one` (1 in every i16 lane) at the end instead of one per block. With
 * dotAdd the i32 lanes (≤ 15360) narrow to i16 exactly, and two of a block's are added before
 * the one widening.
 */
@inline
function reduce4(a: v128, b: v128, c: v128, d: v128, one: v128, dotAdd: bool): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return transposeSum4i(a, b, c, d);
  if (dotAdd) {
    const ab = i16x8.narrow_i32x4_s(a, b), cd = i16x8.narrow_i32x4_s(c, d);
    return i32x4.dot_i16x8_s(i16x8.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7)), one);
  }
  const ab = i16x8.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
  const cd = i16x8.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7));
  return i32x4.dot_i16x8_s(i16x8.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7)), one);
}

/** One block's partial sums as i32 lanes (the tail's). */
@inline
function widen(s: v128, one: v128, dotAdd: bool): v128 {
  return ASC_FEATURE_RELAXED_SIMD && !dotAdd ? i32x4.dot_i16x8_s(s, one) : s;
}

/**
 * Four blocks' exact sums (lanes), less 8·Σx, times their weight and activation scales: the f32
 * terms every path adds in the same order, so a row's result does not depend on the path.
 */
@inline
function scaled4(s: v128, xs: usize, xsum: usize, ws: usize): v128 {
  const t = i32x4.sub(s, i32x4.shl(v128.load(xsum), OFFSET_SHIFT));
  return f32x4.mul(f32x4.convert_i32x4_s(t), f32x4.mul(v128.load(ws), v128.load(xs)));
}

/** The scalar tail: one block. */
@inline
function scaled1(s: v128, xs: usize, xsum: usize, ws: usize): f32 {
  const t = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
  const si = i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1) - (load<i32>(xsum) << OFFSET_SHIFT);
  return <f32>si * (load<f32>(ws) * load<f32>(xs));
}

/**
 * One weight row against one x row, four blocks at a time. `sink` is a 4-byte slot only this
 * thread writes: a store after each block fences the next block's loads behind it, so TurboFan
 * does not hoist all of them to the loop top and spill (as in q8.ts).
 */
@inline
function dotQ4(xq: usize, xs: usize, xsum: usize, wq: usize, ws: usize, nb: i32, sink: usize, m0: v128, m1: v128, m2: v128, dotAdd: bool): f32 {
  let acc = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const s0 = blockDot(xq, wq, m0, m1, m2, dotAdd);
    v128.store32_lane(sink, s0, 0);
    const s1 = blockDot(xq + XB, wq + WB, m0, m1, m2, dotAdd);
    v128.store32_lane(sink, s1, 0);
    const s2 = blockDot(xq + 2 * XB, wq + 2 * WB, m0, m1, m2, dotAdd);
    v128.store32_lane(sink, s2, 0);
    const s3 = blockDot(xq + 3 * XB, wq + 3 * WB, m0, m1, m2, dotAdd);
    const s = reduce4(s0, s1, s2, s3, m1, dotAdd);
    acc = f32x4.add(acc, scaled4(s, xs, xsum, ws));
    v128.store32_lane(sink, s, 0);
    xq += 4 * XB;
    wq += 4 * WB;
    xs += 16;
    xsum += 16;
    ws += 16;
  }
  let sum = hsum(acc);
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum += scaled1(widen(blockDot(xq, wq, m0, m1, m2, dotAdd), m1, dotAdd), xs, xsum, ws);
    xq += XB;
    wq += WB;
    xs += 4;
    xsum += 4;
    ws += 4;
  }
  return sum;
}

/**
 * Batches (n > 1): each weight row is unpacked once into the thread's scratch (UB bytes per block,
 * the vectors blockDot makes; a tile of rows from four x rows on), then every x row meets it with
 * loads only. The block sums are the same integers, so the results are the same bits as row by row.
 */
const UB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;

@inline
export function unpackRow(u: usize, w: usize, nb: i32, m0: v128, m1: v128, m2: v128): void {
  for (let k = 0; k < nb; k++) {
    const v = v128.load(w);
    if (ASC_FEATURE_RELAXED_SIMD) {
      v128.store(u, v128.and(v, m0));
      v128.store(u, v128.and(i16x8.shr_u(v, 4), m0), 16);
    } else {
      v128.store(u, v128.and(v, m0));
      v128.store(u, v128.and(v, m1), 16);
      v128.store(u, v128.and(v, m2), 32);
      v128.store(u, i16x8.shr_u(v, 12), 48);
    }
    w += WB;
    u += UB;
  }
}

/** One block of an unpacked row against x: blockDot without the unpacking. */
@inline
export function unpackedBlockDot(x: usize, u: usize, dotAdd: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedHalvesDot(x, v128.load(u), v128.load(u, 16), dotAdd);
  return unpackedDot(x, v128.load(u), v128.load(u, 16), v128.load(u, 32), v128.load(u, 48));
}

/** dotQ4 over an unpacked row: the same sums in the same order. */
@inline
function dotUnpacked(xq: usize, xs: usize, xsum: usize, u: usize, ws: usize, nb: i32, sink: usize, one: v128, dotAdd: bool): f32 {
  let acc = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const s0 = unpackedBlockDot(xq, u, dotAdd);
    v128.store32_lane(sink, s0, 0);
    const s1 = unpackedBlockDot(xq + XB, u + UB, dotAdd);
    v128.store32_lane(sink, s1, 0);
    const s2 = unpackedBlockDot(xq + 2 * XB, u + 2 * UB, dotAdd);
    v128.store32_lane(sink, s2, 0);
    const s3 = unpackedBlockDot(xq + 3 * XB, u + 3 * UB, dotAdd);
    const s = reduce4(s0, s1, s2, s3, one, dotAdd);
    acc = f32x4.add(acc, scaled4(s, xs, xsum, ws));
    v128.store32_lane(sink, s, 0);
    xq += 4 * XB;
    u += 4 * UB;
    xs += 16;
    xsum += 16;
    ws += 16;
  }
  let sum = hsum(acc);
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum += scaled1(widen(unpackedBlockDot(xq, u, dotAdd), one, dotAdd), xs, xsum, ws);
    xq += XB;
    u += UB;
    xs += 4;
    xsum += 4;
    ws += 4;
  }
  return sum;
}

/** Two x rows against one unpacked row, its blocks in L1 for both. Same sums, same order. */
@inline
function dotUnpacked2(out0: usize, out1: usize, xq: usize, xs: usize, xsum: usize, xStride: usize, sStride: usize, u: usize, ws: usize, nb: i32, b: f32, one: v128, dotAdd: bool): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const x1 = xq + xStride;
    const a0 = unpackedBlockDot(xq, u, dotAdd), b0 = unpackedBlockDot(x1, u, dotAdd);
    v128.store32_lane(out0, b0, 0);
    const a1 = unpackedBlockDot(xq + XB, u + UB, dotAdd), b1 = unpackedBlockDot(x1 + XB, u + UB, dotAdd);
    v128.store32_lane(out0, b1, 0);
    const a2 = unpackedBlockDot(xq + 2 * XB, u + 2 * UB, dotAdd), b2 = unpackedBlockDot(x1 + 2 * XB, u + 2 * UB, dotAdd);
    v128.store32_lane(out0, b2, 0);
    const a3 = unpackedBlockDot(xq + 3 * XB, u + 3 * UB, dotAdd), b3 = unpackedBlockDot(x1 + 3 * XB, u + 3 * UB, dotAdd);
    const sa = reduce4(a0, a1, a2, a3, one, dotAdd), sb = reduce4(b0, b1, b2, b3, one, dotAdd);
    acc0 = f32x4.add(acc0, scaled4(sa, xs, xsum, ws));
    acc1 = f32x4.add(acc1, scaled4(sb, xs + sStride, xsum + sStride, ws));
    v128.store32_lane(out0, sa, 0);
    xq += 4 * XB;
    u += 4 * UB;
    xs += 16;
    xsum += 16;
    ws += 16;
  }
  let sum0 = hsum(acc0), sum1 = hsum(acc1);
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum0 += scaled1(widen(unpackedBlockDot(xq, u, dotAdd), one, dotAdd), xs, xsum, ws);
    sum1 += scaled1(widen(unpackedBlockDot(xq + xStride, u, dotAdd), one, dotAdd), xs + sStride, xsum + sStride, ws);
    xq += XB;
    u += UB;
    xs += 4;
    xsum += 4;
    ws += 4;
  }
  store<f32>(out0, sum0 + b);
  store<f32>(out1, sum1 + b);
}

/**
 * One unpacked weight block against four x rows (x, x + xBytes, ...): their exact sums, less
 * 8·Σx, as [row 0, ..., row 3], times the block's weight scale and the rows' x scales, which xt
 * holds side by side (interleaveQ4X), added to acc. Lane for lane the f32 operations of scaled4
 * (scaled1 in the tail) on the same integers. `sink` as in dotQ4: stores fence loads behind them,
 * and the last one, of the new acc, keeps TurboFan from sinking this block's scaling below the
 * next blocks' loads, which left its values live across them and spilled.
 */
@inline
function quadBlock(acc: v128, sink: usize, x: usize, xBytes: usize, xt: usize, u: usize, ws: usize, one: v128, dotAdd: bool): v128 {
  let s: v128;
  if (ASC_FEATURE_RELAXED_SIMD) {
    // A store after the first two rows fences the other two rows' loads behind it.
    const lo = v128.load(u), hi = v128.load(u, 16);
    const a = relaxedHalvesDot(x, lo, hi, dotAdd), b = relaxedHalvesDot(x + xBytes, lo, hi, dotAdd);
    v128.store32_lane(sink, b, 0);
    const c = relaxedHalvesDot(x + 2 * xBytes, lo, hi, dotAdd), d = relaxedHalvesDot(x + 3 * xBytes, lo, hi, dotAdd);
    s = reduce4(a, b, c, d, one, dotAdd);
  } else {
    // A store after each row: hoisted together, the 20 loads of a block do not fit the 16 vector
    // registers and spill.
    const e0 = v128.load(u), e1 = v128.load(u, 16), e2 = v128.load(u, 32), e3 = v128.load(u, 48);
    const a = unpackedDot(x, e0, e1, e2, e3);
    v128.store32_lane(sink, a, 0);
    const b = unpackedDot(x + xBytes, e0, e1, e2, e3);
    v128.store32_lane(sink, b, 0);
    const c = unpackedDot(x + 2 * xBytes, e0, e1, e2, e3);
    v128.store32_lane(sink, c, 0);
    const d = unpackedDot(x + 3 * xBytes, e0, e1, e2, e3);
    s = transposeSum4i(a, b, c, d);
  }
  const t = i32x4.sub(s, v128.load(xt, 16));
  const sum = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(t), f32x4.mul(v128.load32_splat(ws), v128.load(xt))));
  v128.store32_lane(sink, sum, 0);
  return sum;
}

/**
 * Four x rows against one unpacked weight row, each weight block loaded once for all four, one
 * lane per x row. acc_k holds each row's blocks 4j + k (dotUnpacked's lane k), the sum at the end
 * is dotUnpacked's hsum, (acc0 + acc2) + (acc1 + acc3), and the tail blocks and the bias follow in
 * the same order, so every row gets the bits dotUnpacked (and dotQ4) gives it alone.
 */
@inline
function dotUnpacked4(o: usize, oStride: usize, x: usize, xBytes: usize, xt: usize, u: usize, ws: usize, nb: i32, bias: f32, one: v128, dotAdd: bool): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    acc0 = quadBlock(acc0, o, x, xBytes, xt, u, ws, one, dotAdd);
    acc1 = quadBlock(acc1, o, x + XB, xBytes, xt + 32, u + UB, ws + 4, one, dotAdd);
    acc2 = quadBlock(acc2, o, x + 2 * XB, xBytes, xt + 64, u + 2 * UB, ws + 8, one, dotAdd);
    acc3 = quadBlock(acc3, o, x + 3 * XB, xBytes, xt + 96, u + 3 * UB, ws + 12, one, dotAdd);
    x += 4 * XB;
    xt += 128;
    u += 4 * UB;
    ws += 16;
  }
  let sum = f32x4.add(f32x4.add(acc0, acc2), f32x4.add(acc1, acc3));
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum = quadBlock(sum, o, x, xBytes, xt, u, ws, one, dotAdd);
    x += XB;
    xt += 32;
    u += UB;
    ws += 4;
  }
  sum = f32x4.add(sum, f32x4.splat(bias));
  v128.store32_lane(o, sum, 0);
  v128.store32_lane(o + oStride, sum, 1);
  v128.store32_lane(o + 2 * oStride, sum, 2);
  v128.store32_lane(o + 3 * oStride, sum, 3);
}

/**
 * The x side of each four rows side by side, for the x quads of matmulQ4: for rows 4q..4q+3 and
 * block j, 32 bytes at xt + (q·blocks + j)·32: their four scales, then their four 8·Σx (in the
 * sums' units, see OFFSET_SHIFT). Rows past the last whole four are left out.
 */
export function interleaveQ4X(xt: usize, xs: usize, xsum: usize, n: i32, blocks: i32): void {
  interleaveX4(xt, xs, xsum, n, blocks, OFFSET_SHIFT);
}

/** interleaveQ4X's layout with each Σx shifted left by `shift`: the offset of a kind's weights. */
@inline
export function interleaveX4(xt: usize, xs: usize, xsum: usize, n: i32, blocks: i32, shift: i32): void {
  const rowBytes = <usize>blocks << 2;
  for (let i = 0; i + 3 < n; i += 4) {
    const s = xs + <usize>i * rowBytes, m = xsum + <usize>i * rowBytes;
    for (let j = 0; j < blocks; j++) {
      const o = <usize>j << 2;
      v128.store(xt, f32x4(load<f32>(s + o), load<f32>(s + rowBytes + o), load<f32>(s + 2 * rowBytes + o), load<f32>(s + 3 * rowBytes + o)));
      const t = i32x4(load<i32>(m + o), load<i32>(m + rowBytes + o), load<i32>(m + 2 * rowBytes + o), load<i32>(m + 3 * rowBytes + o));
      v128.store(xt, i32x4.shl(t, shift), 16);
      xt += 32;
    }
  }
}

/**
 * Unpacked weight bytes per tile of rows in a batch. Each four x rows (at most 4·3072·2 bytes)
 * stay in L1 while the tile's rows stream past them from L2, so x comes from L2 once per tile
 * rather than once per weight row.
 */
const TILE_BYTES: usize = 64 << 10;

/** Weight rows per tile for `cols` columns: at least one. */
@inline
function tileRows(nb: i32): i32 {
  return max(1, <i32>(TILE_BYTES / (<usize>nb * UB)));
}

/** Bytes of scratch matmulQ4 needs per thread for `cols` columns (n > 1): one tile of unpacked rows. */
export function q4ScratchBytes(cols: i32): i32 {
  const nb = cols / QB;
  return tileRows(nb) * nb * <i32>UB;
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs, xsum from quantizeQ4X over
 * n·cols values, xt from interleaveQ4X (read when n ≥ 4); wq (rows·cols / 2 bytes) and ws (one
 * f32 per block) the weights; scratch holds q4ScratchBytes(cols) bytes of this thread's own (n > 1).
 */
export function matmulQ4(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ4Rows(out, xq, xs, xsum, xt, wq, ws, bias, n, rows, cols, r0, r1, scratch, false);
}

/** matmulQ4 with the relaxed build's dot products summed in i32 (see the top of the file): the same bits. */
export function matmulQ4DotAdd(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ4Rows(out, xq, xs, xsum, xt, wq, ws, bias, n, rows, cols, r0, r1, scratch, true);
}

@inline
function matmulQ4Rows(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, dotAdd: bool): void {
  if (n >= 4) {
    matmulQ4Tiles(out, xq, xs, xsum, xt, wq, ws, bias, n, rows, cols, r0, r1, scratch, dotAdd);
    return;
  }
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  const xStride = <usize>nb * XB;
  const wBytes = <usize>nb * WB;
  const outStride = <usize>rows << 2;
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m0 = nibbleMask(ones), m1 = maskOne(ones, m0), m2 = i16x8.shl(m0, 4);
  // Rows outer: one weight row (cols / 2 bytes) stays in L1 while the x rows (one to three) pass over it.
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * wBytes;
    const sr = ws + <usize>r * sBytes;
    const b = biasAt(bias, r);
    const o = out + (<usize>r << 2);
    if (n > 1) {
      unpackRow(scratch, wr, nb, m0, m1, m2);
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const oi = o + <usize>i * outStride;
        dotUnpacked2(oi, oi + outStride, xq + <usize>i * xStride, xs + <usize>i * sBytes, xsum + <usize>i * sBytes, xStride, sBytes, scratch, sr, nb, b, m1, dotAdd);
      }
      for (; i < n; i++) {
        const oi = o + <usize>i * outStride;
        store<f32>(oi, dotUnpacked(xq + <usize>i * xStride, xs + <usize>i * sBytes, xsum + <usize>i * sBytes, scratch, sr, nb, oi, m1, dotAdd) + b);
      }
      continue;
    }
    store<f32>(o, dotQ4(xq, xs, xsum, wr, sr, nb, o, m0, m1, m2, dotAdd) + b);
  }
}

/**
 * The nibble masks, built from `ones` (all ones in the low 16 bits of each i16 lane, from a value
 * the compilers cannot see): TurboFan does not hoist vector constants out of loops and would
 * rebuild each one (two or three instructions) at every block. Baseline: i16 lanes 0x000f, then
 * 0x0f00 (maskOne) and 0x00f0 (m0 << 4); relaxed: 0x0f in every byte, and maskOne 1 in every i16
 * lane (the widening's `one`).
 */
@inline
function nibbleMask(ones: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? v128.and(ones, i8x16.splat(0x0f)) : i16x8.shr_u(ones, 12);
}

@inline
function maskOne(ones: v128, m0: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i16x8.shr_u(ones, 15) : i16x8.shl(m0, 8);
}

/**
 * matmulQ4 of four x rows or more: a tile of weight rows is unpacked once into scratch, then
 * every four x rows meet it (then a pair, then one), each unpacked block loaded once per four.
 */
@inline
function matmulQ4Tiles(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, dotAdd: bool): void {
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  const xStride = <usize>nb * XB;
  const wBytes = <usize>nb * WB;
  const uBytes = <usize>nb * UB;
  const outStride = <usize>rows << 2;
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m0 = nibbleMask(ones), m1 = maskOne(ones, m0), m2 = i16x8.shl(m0, 4);
  const tile = tileRows(nb);
  for (let t0 = r0; t0 < r1; t0 += tile) {
    const t1 = min(r1, t0 + tile);
    unpackRow(scratch, wq + <usize>t0 * wBytes, (t1 - t0) * nb, m0, m1, m2);
    let i = 0;
    for (; i + 3 < n; i += 4) {
      const x = xq + <usize>i * xStride, xti = xt + (<usize>i * sBytes << 1);
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        dotUnpacked4(o, outStride, x, xStride, xti, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, biasAt(bias, r), m1, dotAdd);
      }
    }
    for (; i + 1 < n; i += 2) {
      const x = xq + <usize>i * xStride;
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        dotUnpacked2(o, o + outStride, x, xs + <usize>i * sBytes, xsum + <usize>i * sBytes, xStride, sBytes, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, biasAt(bias, r), m1, dotAdd);
      }
    }
    if (i < n) {
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * outStride + (<usize>r << 2);
        store<f32>(o, dotUnpacked(xq + <usize>i * xStride, xs + <usize>i * sBytes, xsum + <usize>i * sBytes, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, o, m1, dotAdd) + biasAt(bias, r));
      }
    }
  }
}
