// 5-bit matmul: weights are ggml's Q5_0 blocks of 32, w = (q − 16) · scale with q in 0..31 and
// one f32 scale per block, repacked at load (src/kernels/q5.ts): byte j of a block's 16 holds q_j
// (bits 0-4) and the low three bits of q_{j+16} (bits 5-7); a group of four blocks of a row has 16
// bytes more whose byte j holds, in bits 2·b and 2·b + 1, the two high bits of q_{j+16} of block
// b. So q_0..15 is one mask, and q_16..31 a shift and a mask of the block's bytes or-ed with one
// shift and one mask of its group's (where ggml's 32-bit word of fifth bits takes a byte shuffle,
// a mask, a compare and a mask per sixteen). x is quantized as for q4 (quantizeQ4X: int8 per 32,
// Σ x per block), and each block's integer dot product is Σ q·x − 16·Σ x: the weights stay
// unsigned.
//
// The two builds unpack into q4.ts's shapes, with 5-bit values, and compute the same integer sums,
// so the same bits:
//   baseline: the four vectors e, 256·e, 16·e, e of q4.ts (≤ 31·256 fits an i16 lane) against x
//     stored as 256·x, x, 16·x, 256·x; block sums (·256, < 2^31) in i32 lanes;
//   relaxed: the two halves' values are the unsigned 7-bit operand of
//     i16x8.relaxed_dot_i8x16_i7x16_s against x as i8. A block's i16 lanes reach 2·2·31·127 =
//     15748, so two blocks' lanes are summed before widening (q4.ts sums four). It can also sum
//     straight into i32 lanes, for any number of x rows (`dotAdd`, the matmulQ5DotAdd export; see q4.ts).
import { hsum, transposeSum4i } from "./math";
import { interleaveX4, relaxedHalvesDot, unpackedBlockDot, unpackedDot } from "./q4";

const QB: i32 = 32;
/** Bytes of one quantized 32-block of x (q4.ts's layout). */
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** 16·Σx, in the sums' units: ·256 in the baseline build. */
const OFFSET_SHIFT: i32 = ASC_FEATURE_RELAXED_SIMD ? 4 : 12;
/** Bytes of one block's values, and of one group of four blocks' high bits. */
const WB: usize = 16;
const GB: usize = 16;

/** i16 lanes shifted left by k, right by −k: k is a constant once inlined, so one instruction or none. */
@inline
function shift16(v: v128, k: i32): v128 {
  if (k > 0) return i16x8.shl(v, k);
  if (k < 0) return i16x8.shr_u(v, -k);
  return v;
}

/**
 * Block b (a constant 0..3) of its group: its 16 bytes v, the group's 16 bytes h. Returns what
 * q4.ts's blockDot returns, for 5-bit values. Masks (see matmulQ5): relaxed c0, c1, c2 = 0x1f,
 * 0x07, 0x18 in every byte; baseline c0..c4 = 0x001f, 0x1f00, 0x00e0, 0x0180, 0x0018 per i16.
 */
@inline
function blockDot5(x: usize, v: v128, h: v128, b: i32, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, dotAdd: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return relaxedHalvesDot(x, v128.and(v, c0), highHalf(v, h, b, c1, c2), dotAdd);
  return unpackedDot(x, v128.and(v, c0), v128.and(v, c1), e2Of(v, h, b, c2, c3), e3Of(v, h, b, c4));
}

/**
 * Relaxed: q_16..31 of block b as bytes: bits 5-7 of v down to 0-2, and the group's bits 2b and
 * 2b + 1 to 3 and 4 (an i16 shift of −3..3: what spills across a byte never reaches bits 3-4).
 */
@inline
function highHalf(v: v128, h: v128, b: i32, c1: v128, c2: v128): v128 {
  return v128.or(v128.and(i16x8.shr_u(v, 5), c1), v128.and(shift16(h, 3 - 2 * b), c2));
}

/**
 * Baseline, i16 lane k: q_2k (bits 0-4), q_{2k+16}'s low bits (5-7), q_{2k+1} (8-12) and
 * q_{2k+17}'s low bits (13-15) of v, the high bits of q_{2k+16} and q_{2k+17} at 2b, 2b + 1 and
 * 8 + 2b, 9 + 2b of h. e0 = q_2k and e1 = 256·q_{2k+1} are masks of v; e2 = 16·q_{2k+16} and
 * e3 = q_{2k+17} are put together here.
 */
@inline
function e2Of(v: v128, h: v128, b: i32, c2: v128, c3: v128): v128 {
  return v128.or(i16x8.shr_u(v128.and(v, c2), 1), v128.and(shift16(h, 7 - 2 * b), c3));
}

@inline
function e3Of(v: v128, h: v128, b: i32, c4: v128): v128 {
  return v128.or(i16x8.shr_u(v, 13), v128.and(i16x8.shr_u(h, 5 + 2 * b), c4));
}

/**
 * [Σa, Σb, Σc, Σd] as i32 of four blocks' partial sums. Relaxed, the i16 way: each i16 lane of a
 * block holds at most 15748, so two of a block's lanes are added (≤ 31496) and widened against
 * `one` (1 in every i16 lane), two blocks per widening. With dotAdd the i32 lanes (≤ 8·31·127 =
 * 31496) narrow to i16 exactly, two blocks per narrowing, and are widened in pairs.
 */
@inline
function reduce4(a: v128, b: v128, c: v128, d: v128, one: v128, dotAdd: bool): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return transposeSum4i(a, b, c, d);
  if (dotAdd) {
    const ab = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_s(a, b), one), cd = i32x4.dot_i16x8_s(i16x8.narrow_i32x4_s(c, d), one);
    return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 2, 4, 6), v128.shuffle<i32>(ab, cd, 1, 3, 5, 7));
  }
  const ab = i32x4.dot_i16x8_s(i16x8.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7)), one);
  const cd = i32x4.dot_i16x8_s(i16x8.add(v128.shuffle<i32>(c, d, 0, 4, 1, 5), v128.shuffle<i32>(c, d, 2, 6, 3, 7)), one);
  return i32x4.add(v128.shuffle<i32>(ab, cd, 0, 1, 4, 5), v128.shuffle<i32>(ab, cd, 2, 3, 6, 7));
}

/** One block's partial sums as i32 lanes (the tail's). */
@inline
function widen(s: v128, one: v128, dotAdd: bool): v128 {
  return ASC_FEATURE_RELAXED_SIMD && !dotAdd ? i32x4.dot_i16x8_s(s, one) : s;
}

/**
 * Four blocks' exact sums (lanes), less 16·Σx, times their weight and activation scales: the f32
 * terms every path adds in the same order, so a row's result does not depend on the path.
 * |Σ (q − 16)·x| ≤ 32·16·127 (·256 in the baseline build: < 2^24·256, converted exactly).
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
 * One weight row against one x row, a group of four blocks at a time (one load of its high bits).
 * `sink` is a 4-byte slot only this thread writes: a store after each block fences the next
 * block's loads behind it, so TurboFan does not hoist all of them to the loop top and spill (as
 * in q4.ts).
 */
@inline
function dotQ5(xq: usize, xs: usize, xsum: usize, wq: usize, wh: usize, ws: usize, nb: i32, sink: usize, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128, one: v128, dotAdd: bool): f32 {
  let acc = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const h = v128.load(wh);
    const s0 = blockDot5(xq, v128.load(wq), h, 0, c0, c1, c2, c3, c4, dotAdd);
    v128.store32_lane(sink, s0, 0);
    const s1 = blockDot5(xq + XB, v128.load(wq, WB), h, 1, c0, c1, c2, c3, c4, dotAdd);
    v128.store32_lane(sink, s1, 0);
    const s2 = blockDot5(xq + 2 * XB, v128.load(wq, 2 * WB), h, 2, c0, c1, c2, c3, c4, dotAdd);
    v128.store32_lane(sink, s2, 0);
    const s3 = blockDot5(xq + 3 * XB, v128.load(wq, 3 * WB), h, 3, c0, c1, c2, c3, c4, dotAdd);
    const s = reduce4(s0, s1, s2, s3, one, dotAdd);
    acc = f32x4.add(acc, scaled4(s, xs, xsum, ws));
    v128.store32_lane(sink, s, 0);
    xq += 4 * XB;
    wq += 4 * WB;
    wh += GB;
    xs += 16;
    xsum += 16;
    ws += 16;
  }
  let sum = hsum(acc);
  const tail = nb & 3;
  if (tail > 0) {
    // The row's last group, padded: its blocks 0..tail − 1.
    const h = v128.load(wh);
    sum += scaled1(widen(blockDot5(xq, v128.load(wq), h, 0, c0, c1, c2, c3, c4, dotAdd), one, dotAdd), xs, xsum, ws);
    if (tail > 1) sum += scaled1(widen(blockDot5(xq + XB, v128.load(wq, WB), h, 1, c0, c1, c2, c3, c4, dotAdd), one, dotAdd), xs + 4, xsum + 4, ws + 4);
    if (tail > 2) sum += scaled1(widen(blockDot5(xq + 2 * XB, v128.load(wq, 2 * WB), h, 2, c0, c1, c2, c3, c4, dotAdd), one, dotAdd), xs + 8, xsum + 8, ws + 8);
  }
  return sum;
}

/**
 * Batches (n > 1): each weight row is unpacked once into the thread's scratch (UB bytes per block:
 * the vectors blockDot5 makes, as q4.ts's unpacked rows hold them), then every x row meets it with
 * loads only. The block sums are the same integers, so the results are the same bits as row by row.
 */
const UB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;

/** Block b (a constant) of a group, unpacked to u. */
@inline
function unpackBlock(u: usize, v: v128, h: v128, b: i32, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128): void {
  v128.store(u, v128.and(v, c0));
  if (ASC_FEATURE_RELAXED_SIMD) {
    v128.store(u, highHalf(v, h, b, c1, c2), 16);
  } else {
    v128.store(u, v128.and(v, c1), 16);
    v128.store(u, e2Of(v, h, b, c2, c3), 32);
    v128.store(u, e3Of(v, h, b, c4), 48);
  }
}

@inline
function unpackRowQ5(u: usize, wq: usize, wh: usize, nb: i32, c0: v128, c1: v128, c2: v128, c3: v128, c4: v128): void {
  for (let k = 0; k < nb; k += 4) {
    // A row's last group may hold fewer than four blocks: its padding is never unpacked.
    const h = v128.load(wh);
    unpackBlock(u, v128.load(wq), h, 0, c0, c1, c2, c3, c4);
    if (k + 1 < nb) unpackBlock(u + UB, v128.load(wq, WB), h, 1, c0, c1, c2, c3, c4);
    if (k + 2 < nb) unpackBlock(u + 2 * UB, v128.load(wq, 2 * WB), h, 2, c0, c1, c2, c3, c4);
    if (k + 3 < nb) unpackBlock(u + 3 * UB, v128.load(wq, 3 * WB), h, 3, c0, c1, c2, c3, c4);
    wq += 4 * WB;
    wh += GB;
    u += 4 * UB;
  }
}

/** dotQ5 over an unpacked row: the same sums in the same order. */
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
 * The x scales and block sums of each four x rows side by side, for matmulQ5's x quads: for rows
 * 4q..4q+3 and block j, their four scales then their four 16·Σx (in the sums' units, see
 * OFFSET_SHIFT) at xt + (q·blocks + j)·32. Rows past the last whole four are left out.
 */
export function interleaveQ5X(xt: usize, xs: usize, xsum: usize, n: i32, blocks: i32): void {
  interleaveX4(xt, xs, xsum, n, blocks, OFFSET_SHIFT);
}

/**
 * One unpacked weight block against four x rows (x, x + xStride, ...): [row 0's term, ..., row 3's]
 * as scaled4 makes each, from xt's four scales and sums of this block. `sink` as in dotQ5.
 */
@inline
function quadBlock(sink: usize, x: usize, xStride: usize, xt: usize, u: usize, ws: usize, one: v128, dotAdd: bool): v128 {
  const a = unpackedBlockDot(x, u, dotAdd), b = unpackedBlockDot(x + xStride, u, dotAdd);
  v128.store32_lane(sink, b, 0);
  const c = unpackedBlockDot(x + 2 * xStride, u, dotAdd), d = unpackedBlockDot(x + 3 * xStride, u, dotAdd);
  const t = i32x4.sub(reduce4(a, b, c, d, one, dotAdd), v128.load(xt, 16));
  const terms = f32x4.mul(f32x4.convert_i32x4_s(t), f32x4.mul(v128.load32_splat(ws), v128.load(xt)));
  // Stored, so that the next block's loads wait for these terms rather than pile up in registers.
  v128.store32_lane(sink, terms, 0);
  return terms;
}

/**
 * Four x rows against one unpacked weight row, one lane per x row. The float work is dotQ5's:
 * acc_k holds each row's blocks 4j + k (dotQ5's lane k), the sum at the end is dotQ5's hsum,
 * (acc0 + acc2) + (acc1 + acc3), and the tail blocks and the bias follow in the same order, so
 * every row gets the bits dotQ5 gives it alone.
 */
@inline
function dotUnpacked4(o: usize, oStride: usize, x: usize, xStride: usize, xt: usize, u: usize, ws: usize, nb: i32, bias: f32, one: v128, dotAdd: bool): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    acc0 = f32x4.add(acc0, quadBlock(o, x, xStride, xt, u, ws, one, dotAdd));
    acc1 = f32x4.add(acc1, quadBlock(o, x + XB, xStride, xt + 32, u + UB, ws + 4, one, dotAdd));
    acc2 = f32x4.add(acc2, quadBlock(o, x + 2 * XB, xStride, xt + 64, u + 2 * UB, ws + 8, one, dotAdd));
    acc3 = f32x4.add(acc3, quadBlock(o, x + 3 * XB, xStride, xt + 96, u + 3 * UB, ws + 12, one, dotAdd));
    x += 4 * XB;
    xt += 128;
    u += 4 * UB;
    ws += 16;
  }
  let sum = f32x4.add(f32x4.add(acc0, acc2), f32x4.add(acc1, acc3));
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum = f32x4.add(sum, quadBlock(o, x, xStride, xt, u, ws, one, dotAdd));
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

/** Unpacked weight bytes per tile of rows in the matmul of several x rows: with an x pair, within L1. */
const TILE_BYTES: usize = 16 << 10;

/** Rows of a tile for rows of `nb` blocks. */
@inline
function tileRows(nb: i32): i32 {
  return max(1, <i32>(TILE_BYTES / (<usize>nb * UB)));
}

/** Scratch bytes per thread matmulQ5 needs for `cols` columns (n > 1): one tile of unpacked rows. */
export function q5ScratchBytes(cols: i32): i32 {
  const nb = cols / QB;
  return tileRows(nb) * nb * <i32>UB;
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs, xsum from quantizeQ4X over
 * n·cols values, xt from interleaveQ5X (read when n ≥ 4); wq (rows·cols / 2 bytes), wh (16 bytes per row's group of four blocks, a last
 * partial group padded) and ws (one f32 per block) the weights; scratch holds q5ScratchBytes(cols)
 * bytes of this thread's own (n > 1 only).
 */
export function matmulQ5(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, wh: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ5Rows(out, xq, xs, xsum, xt, wq, wh, ws, bias, n, rows, cols, r0, r1, scratch, false);
}

/** matmulQ5 with the relaxed build's lone x rows and pairs summed in i32 (see q4.ts): the same bits. */
export function matmulQ5DotAdd(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, wh: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ5Rows(out, xq, xs, xsum, xt, wq, wh, ws, bias, n, rows, cols, r0, r1, scratch, true);
}

@inline
function matmulQ5Rows(out: usize, xq: usize, xs: usize, xsum: usize, xt: usize, wq: usize, wh: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, dotAdd: bool): void {
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  const xStride = <usize>nb * XB;
  const wBytes = <usize>nb * WB;
  const hBytes = <usize>((nb + 3) >> 2) * GB;
  const uBytes = <usize>nb * UB;
  const outStride = <usize>rows << 2;
  // The masks, built from a value the compilers cannot see (r1 | 0xffff is all ones in the low 16
  // bits), as in matmulQ4: TurboFan would otherwise rebuild each constant inside the loops.
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const one = i16x8.shr_u(ones, 15);
  const c0 = v128.and(ones, ASC_FEATURE_RELAXED_SIMD ? i8x16.splat(0x1f) : i16x8.splat(0x001f));
  const c1 = v128.and(ones, ASC_FEATURE_RELAXED_SIMD ? i8x16.splat(0x07) : i16x8.splat(0x1f00));
  const c2 = v128.and(ones, ASC_FEATURE_RELAXED_SIMD ? i8x16.splat(0x18) : i16x8.splat(0x00e0));
  const c3 = v128.and(ones, i16x8.splat(0x0180)), c4 = v128.and(ones, i16x8.splat(0x0018));
  if (n == 1) {
    // Decode: one stream of weight rows, each unpacked as it is read.
    for (let r = r0; r < r1; r++) {
      const o = out + (<usize>r << 2);
      const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
      store<f32>(o, dotQ5(xq, xs, xsum, wq + <usize>r * wBytes, wh + <usize>r * hBytes, ws + <usize>r * sBytes, nb, o, c0, c1, c2, c3, c4, one, dotAdd) + b);
    }
    return;
  }
  // Several x rows: a tile of weight rows unpacked once into L1 meets every four x rows in turn
  // (then a pair, then one), so neither the unpacking nor x's reads from L2 repeat per row.
  const tile = tileRows(nb);
  const tStride = <usize>nb << 5;
  for (let t0 = r0; t0 < r1; t0 += tile) {
    const t1 = min(r1, t0 + tile);
    for (let r = t0; r < t1; r++) unpackRowQ5(scratch + <usize>(r - t0) * uBytes, wq + <usize>r * wBytes, wh + <usize>r * hBytes, nb, c0, c1, c2, c3, c4);
    let i = 0;
    for (; i + 3 < n; i += 4) {
      const x = xq + <usize>i * xStride, t = xt + <usize>(i >> 2) * tStride;
      for (let r = t0; r < t1; r++) {
        const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
        dotUnpacked4(out + <usize>i * outStride + (<usize>r << 2), outStride, x, xStride, t, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, b, one, dotAdd);
      }
    }
    if (i + 1 < n) {
      const x = xq + <usize>i * xStride, s = xs + <usize>i * sBytes, m = xsum + <usize>i * sBytes;
      for (let r = t0; r < t1; r++) {
        const oi = out + <usize>i * outStride + (<usize>r << 2);
        const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
        dotUnpacked2(oi, oi + outStride, x, s, m, xStride, sBytes, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, b, one, dotAdd);
      }
      i += 2;
    }
    if (i < n) {
      const x = xq + <usize>i * xStride, s = xs + <usize>i * sBytes, m = xsum + <usize>i * sBytes;
      for (let r = t0; r < t1; r++) {
        const oi = out + <usize>i * outStride + (<usize>r << 2);
        const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
        store<f32>(oi, dotUnpacked(x, s, m, scratch + <usize>(r - t0) * uBytes, ws + <usize>r * sBytes, nb, oi, one, dotAdd) + b);
      }
    }
  }
}
