// int8 matmul: weights are Q8_0 blocks (32 int8 + one f32 scale). Two variants, both kept
// (bench/kernels.ts times them): quantize x to Q8_0 too and do integer dot products (fewer instructions
// per weight, but x loses precision to 8 bits per block), or widen weights to f32 (exact x).
//
// Baseline build: the quantized x is stored widened to i16, since every weight row reads it again.
// The weights are not sign-extended (one shuffle µop per 8, two per cycle: what bounded this
// kernel): each i16 lane of a plain load holds two of them, and a shift and a mask put either
// one, times 256, in the lane's high byte. x is stored with its even and odd positions of every
// 16 apart to match, and its scale divided by 256 (exactly: a power of two) to cancel the factor.
//
// Relaxed build: i16x8.relaxed_dot_i8x16_i7x16_s multiplies 16 int8 weights by 16 bytes of x in
// one instruction (pmaddubsw on x64, sdot on arm64), but its second operand must be in [0, 127]
// for every engine to give the same sums: x is quantized to [-63, 63] (7 bits, half the steps of
// the baseline build's 8) and stored plus 64. The weights' own dot with 64, made once per block
// and shared by every x row, takes the offset back out while the sums are still i16 (the
// offset-free sums fit, so wrapping on the way does no harm); then one widening per block.
// x is rounded to 7 bits rather than 8 because sums of w·(x + 64) need the 8th bit's headroom.
// The relaxed build can also take the dot products as i32x4.relaxed_dot_i8x16_i7x16_add_s, which
// adds each four products into an i32 lane (`dotAdd`, the matmulQ8DotAdd export): the block's
// −64·Σw as i32 lanes starts the sum and two instructions finish it, where the i16 way needs five.
// It is one instruction only where the engine lowers it to VNNI's vpdpbusd (V8 13+ on CPUs with
// AVX-VNNI), three elsewhere, and V8 11 (Node 20) computes it wrongly before tier-up, so the backend
// takes it only where timing both finds it right and faster (src/kernels/wasm/dot-probe.ts). Only
// x quads take it: a lone row or pair would start each block's two-deep chain of dot-adds on the
// offset sums' own chain, and the i16 way, whose steps are independent, decodes faster.
// Integer sums are exact, so each build gives the same bits at every n, thread count and batch
// place, and both relaxed ways the same; the two builds differ from each other by x's rounding.
import { hsum, transposeSum4i } from "./math";
import { biasAt } from "./matmul";

const QB: i32 = 32;
/** Weight bytes per tile of rows in the matmul of several x rows: with an x pair, within L1. */
const TILE_BYTES: usize = 16 << 10;
/** Largest quantized |x|: the relaxed build's dot needs x + 64 to fit 7 bits. */
const XMAX: f32 = ASC_FEATURE_RELAXED_SIMD ? 63 : 127;
/** Bytes of quantized x per block: bytes (relaxed) or i16 (baseline). */
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** The baseline build's weights come out of prep times 256; x's scale cancels it. */
const XSCALE: f32 = ASC_FEATURE_RELAXED_SIMD ? 1 : <f32>1 / 256;

/**
 * x (n·cols) f32 → xq and one scale per 32 values (times XSCALE); cols·n must be a multiple of
 * 32. Baseline: int8 values stored as i16, each 16 as [even positions, odd positions]. Relaxed:
 * values in [-63, 63] stored as bytes plus 64, in order.
 */
export function quantizeQ8(xq: usize, xs: usize, x: usize, blocks: i32): void {
  for (let b = 0; b < blocks; b++) {
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    const scale: f32 = amax / XMAX;
    store<f32>(xs, scale * XSCALE);
    const inv = f32x4.splat(amax == 0 ? <f32>0 : XMAX / amax);
    const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v0, inv)));
    const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v1, inv)));
    const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v2, inv)));
    const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v3, inv)));
    const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v4, inv)));
    const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v5, inv)));
    const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v6, inv)));
    const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v7, inv)));
    const a = i16x8.narrow_i32x4_s(q0, q1), b = i16x8.narrow_i32x4_s(q2, q3);
    const c = i16x8.narrow_i32x4_s(q4, q5), d = i16x8.narrow_i32x4_s(q6, q7);
    if (ASC_FEATURE_RELAXED_SIMD) {
      const k = i16x8.splat(64);
      v128.store(xq, i8x16.narrow_i16x8_u(i16x8.add(a, k), i16x8.add(b, k)));
      v128.store(xq, i8x16.narrow_i16x8_u(i16x8.add(c, k), i16x8.add(d, k)), 16);
    } else {
      v128.store(xq, v128.shuffle<i16>(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
      v128.store(xq, v128.shuffle<i16>(a, b, 1, 3, 5, 7, 9, 11, 13, 15), 16);
      v128.store(xq, v128.shuffle<i16>(c, d, 0, 2, 4, 6, 8, 10, 12, 14), 32);
      v128.store(xq, v128.shuffle<i16>(c, d, 1, 3, 5, 7, 9, 11, 13, 15), 48);
    }
    x += 128;
    xq += XB;
    xs += 4;
  }
}

/**
 * One weight block (v: weights 0..15, u: 16..31) made ready for preparedDot, which several x
 * rows may share: w0..w3 = prep(v, u, 0..3, one). Baseline: the even and odd weights of each 16,
 * times 256, as i16. Relaxed: the two halves, offsetSums, and `one` (1 in every i16 lane, see
 * matmulQ8) for the widening.
 */
@inline
function prep(v: v128, u: v128, k: i32, one: v128, o64: v128, dotAdd: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (k == 0) return v;
    if (k == 1) return u;
    if (k == 3) return one;
    return offsetSums(v, u, o64, dotAdd);
  }
  const high = i16x8.splat(-256);
  if (k == 0) return i16x8.shl(v, 8);
  if (k == 1) return v128.and(v, high);
  if (k == 2) return i16x8.shl(u, 8);
  return v128.and(u, high);
}

/**
 * Relaxed: the block's weights times 64 (the offset of x), summed as the dot products sum them:
 * i16 pair sums of both halves, or (dotAdd) −64·Σw in i32 lanes, which starts the dot's sum.
 */
@inline
function offsetSums(v: v128, u: v128, o: v128, dotAdd: bool): v128 {
  if (dotAdd) return i32x4.neg(i32x4.relaxed_dot_i8x16_i7x16_add_s(u, o, i32x4.relaxed_dot_i8x16_i7x16_add_s(v, o, i32x4.splat(0))));
  return i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v, o), i16x8.relaxed_dot_i8x16_i7x16_s(u, o));
}

/**
 * Σ of one 32-block product of x (XB bytes at x) with a prepared weight block, as i32x4 lanes
 * (times 256 in the baseline build). |x| ≤ 127 and |w| ≤ 128, so a block's sum is below 2^27:
 * exact in f32.
 */
@inline
function preparedDot(w0: v128, w1: v128, w2: v128, w3: v128, x: usize, dotAdd: bool): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // |Σ w·(x + 64)| over four products ≤ 4·128·127: i32 lanes hold it all exactly.
    if (dotAdd) return i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, v128.load(x, 16), i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, v128.load(x), w2));
    // Σ over both halves of w·(x + 64) - 64·w = w·x per lane, |w·x| ≤ 4·128·63: it fits i16,
    // so the wrapping i16 sums on the way are exact. The widening is a dot with w3 = 1 per lane
    // rather than extadd_pairwise, which V8 lowers to the same pmaddwd plus a constant's address.
    const p0 = i16x8.relaxed_dot_i8x16_i7x16_s(w0, v128.load(x));
    const p1 = i16x8.relaxed_dot_i8x16_i7x16_s(w1, v128.load(x, 16));
    return i32x4.dot_i16x8_s(i16x8.sub(i16x8.add(p0, p1), w2), w3);
  }
  const d0 = i32x4.dot_i16x8_s(w0, v128.load(x));
  const d1 = i32x4.dot_i16x8_s(w1, v128.load(x, 16));
  const d2 = i32x4.dot_i16x8_s(w2, v128.load(x, 32));
  const d3 = i32x4.dot_i16x8_s(w3, v128.load(x, 48));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
}

@inline
function blockDot(x: usize, w: usize, one: v128, o64: v128, dotAdd: bool): v128 {
  const v = v128.load(w), u = v128.load(w, 16);
  return preparedDot(prep(v, u, 0, one, o64, dotAdd), prep(v, u, 1, one, o64, dotAdd), prep(v, u, 2, one, o64, dotAdd), prep(v, u, 3, one, o64, dotAdd), x, dotAdd);
}

@inline
function lanesSum(s: v128): i32 {
  const t = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
  return i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1);
}

/**
 * One row: four blocks at a time so their i32 sums transpose into one vector and meet their
 * four (contiguous) weight and activation scales with one convert and two multiplies.
 *
 * `sink` is a 4-byte slot only this thread writes (its output element). TurboFan hoists every
 * load of a loop body to its top, and 32 hoisted loads spill half the vector registers; a store
 * after each block fences the next block's loads behind it, which costs one instruction.
 */
@inline
function dotQ8(xq: usize, xs: usize, wq: usize, ws: usize, nb: i32, sink: usize, one: v128, o64: v128, dotAdd: bool): f32 {
  let acc = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const s0 = blockDot(xq, wq, one, o64, dotAdd);
    v128.store32_lane(sink, s0, 0);
    const s1 = blockDot(xq + XB, wq + 32, one, o64, dotAdd);
    v128.store32_lane(sink, s1, 0);
    const s2 = blockDot(xq + 2 * XB, wq + 64, one, o64, dotAdd);
    v128.store32_lane(sink, s2, 0);
    const s3 = blockDot(xq + 3 * XB, wq + 96, one, o64, dotAdd);
    const s = transposeSum4i(s0, s1, s2, s3);
    const d = f32x4.mul(v128.load(ws), v128.load(xs));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
    v128.store32_lane(sink, s, 0);
    xq += 4 * XB;
    wq += 128;
    xs += 16;
    ws += 16;
  }
  let sum = hsum(acc);
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum += <f32>lanesSum(blockDot(xq, wq, one, o64, dotAdd)) * (load<f32>(ws) * load<f32>(xs));
    xq += XB;
    wq += 32;
    xs += 4;
    ws += 4;
  }
  return sum;
}

/**
 * Two x rows against one weight row, the weights prepared once for both. The float work is
 * dotQ8's, lane for lane: acc01 holds [A's blocks 4j, 4j+1, B's 4j, 4j+1] and acc23 the next two,
 * so each row's sums, and the final out, are the same bits as dotQ8 gives it alone. A store
 * after every block product fences the next one's loads behind it (see dotQ8).
 */
@inline
function dotQ8x2(oA: usize, oB: usize, xA: usize, xB: usize, xsA: usize, xsB: usize, wq: usize, ws: usize, nb: i32, bias: f32, one: v128, o64: v128, dotAdd: bool): void {
  let acc01 = f32x4.splat(0), acc23 = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    let v = v128.load(wq), u = v128.load(wq, 16);
    let w0 = prep(v, u, 0, one, o64, dotAdd), w1 = prep(v, u, 1, one, o64, dotAdd), w2 = prep(v, u, 2, one, o64, dotAdd), w3 = prep(v, u, 3, one, o64, dotAdd);
    const a0 = preparedDot(w0, w1, w2, w3, xA, dotAdd);
    v128.store32_lane(oA, a0, 0);
    const b0 = preparedDot(w0, w1, w2, w3, xB, dotAdd);
    v128.store32_lane(oA, b0, 0);
    v = v128.load(wq, 32);
    u = v128.load(wq, 48);
    w0 = prep(v, u, 0, one, o64, dotAdd); w1 = prep(v, u, 1, one, o64, dotAdd); w2 = prep(v, u, 2, one, o64, dotAdd); w3 = prep(v, u, 3, one, o64, dotAdd);
    const a1 = preparedDot(w0, w1, w2, w3, xA + XB, dotAdd);
    v128.store32_lane(oA, a1, 0);
    const b1 = preparedDot(w0, w1, w2, w3, xB + XB, dotAdd);
    const t01 = transposeSum4i(a0, a1, b0, b1);
    v128.store32_lane(oA, t01, 0);
    v = v128.load(wq, 64);
    u = v128.load(wq, 80);
    w0 = prep(v, u, 0, one, o64, dotAdd); w1 = prep(v, u, 1, one, o64, dotAdd); w2 = prep(v, u, 2, one, o64, dotAdd); w3 = prep(v, u, 3, one, o64, dotAdd);
    const a2 = preparedDot(w0, w1, w2, w3, xA + 2 * XB, dotAdd);
    v128.store32_lane(oA, a2, 0);
    const b2 = preparedDot(w0, w1, w2, w3, xB + 2 * XB, dotAdd);
    v128.store32_lane(oA, b2, 0);
    v = v128.load(wq, 96);
    u = v128.load(wq, 112);
    w0 = prep(v, u, 0, one, o64, dotAdd); w1 = prep(v, u, 1, one, o64, dotAdd); w2 = prep(v, u, 2, one, o64, dotAdd); w3 = prep(v, u, 3, one, o64, dotAdd);
    const a3 = preparedDot(w0, w1, w2, w3, xA + 3 * XB, dotAdd);
    v128.store32_lane(oA, a3, 0);
    const b3 = preparedDot(w0, w1, w2, w3, xB + 3 * XB, dotAdd);
    const t23 = transposeSum4i(a2, a3, b2, b3);
    const s01 = v128.load64_lane(xsB, v128.load64_zero(xsA), 1);
    const s23 = v128.load64_lane(xsB + 8, v128.load64_zero(xsA + 8), 1);
    acc01 = f32x4.add(acc01, f32x4.mul(f32x4.convert_i32x4_s(t01), f32x4.mul(v128.load64_splat(ws), s01)));
    acc23 = f32x4.add(acc23, f32x4.mul(f32x4.convert_i32x4_s(t23), f32x4.mul(v128.load64_splat(ws + 8), s23)));
    v128.store32_lane(oA, t23, 0);
    xA += 4 * XB;
    xB += 4 * XB;
    wq += 128;
    xsA += 16;
    xsB += 16;
    ws += 16;
  }
  let sumA = hsum(v128.shuffle<f32>(acc01, acc23, 0, 1, 4, 5));
  let sumB = hsum(v128.shuffle<f32>(acc01, acc23, 2, 3, 6, 7));
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    const v = v128.load(wq), u = v128.load(wq, 16);
    const w0 = prep(v, u, 0, one, o64, dotAdd), w1 = prep(v, u, 1, one, o64, dotAdd), w2 = prep(v, u, 2, one, o64, dotAdd), w3 = prep(v, u, 3, one, o64, dotAdd);
    sumA += <f32>lanesSum(preparedDot(w0, w1, w2, w3, xA, dotAdd)) * (load<f32>(ws) * load<f32>(xsA));
    sumB += <f32>lanesSum(preparedDot(w0, w1, w2, w3, xB, dotAdd)) * (load<f32>(ws) * load<f32>(xsB));
    xA += XB;
    xB += XB;
    wq += 32;
    xsA += 4;
    xsB += 4;
    ws += 4;
  }
  store<f32>(oA, sumA + bias);
  store<f32>(oB, sumB + bias);
}

/**
 * One weight block against four x rows (x, x + xBytes, ...), as [row 0's sum, ..., row 3's sum]
 * times the block's scales: xst holds the four rows' x scales of this block side by side, c (the
 * relaxed build) the block's prep(v, u, 2) from cacheOffsets. `sink`
 * as in dotQ8: one store per block is enough to keep the next block's loads from being hoisted.
 */
@inline
function quadBlock(sink: usize, x: usize, xBytes: usize, xst: usize, wq: usize, ws: usize, c: usize, one: v128, o64: v128, dotAdd: bool): v128 {
  const v = v128.load(wq), u = v128.load(wq, 16);
  const w0 = prep(v, u, 0, one, o64, dotAdd), w1 = prep(v, u, 1, one, o64, dotAdd), w3 = prep(v, u, 3, one, o64, dotAdd);
  const w2 = ASC_FEATURE_RELAXED_SIMD ? v128.load(c) : prep(v, u, 2, one, o64, dotAdd);
  const a = preparedDot(w0, w1, w2, w3, x, dotAdd);
  const b = preparedDot(w0, w1, w2, w3, x + xBytes, dotAdd);
  const e = preparedDot(w0, w1, w2, w3, x + 2 * xBytes, dotAdd);
  const d = preparedDot(w0, w1, w2, w3, x + 3 * xBytes, dotAdd);
  const s = transposeSum4i(a, b, e, d);
  v128.store32_lane(sink, s, 0);
  return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(v128.load32_splat(ws), v128.load(xst)));
}

/**
 * Four x rows against one weight row, each weight block loaded and prepared once for all four,
 * one lane per x row. The float work is dotQ8's: acc_k holds each row's blocks 4j + k (dotQ8's
 * lane k), the sum at the end is dotQ8's hsum, (acc0 + acc2) + (acc1 + acc3), and the tail
 * blocks and the bias follow in the same order, so every row gets the bits dotQ8 gives it alone.
 */
@inline
function dotQ8x4(o: usize, oStride: usize, x: usize, xBytes: usize, xst: usize, wq: usize, ws: usize, c: usize, nb: i32, bias: f32, one: v128, o64: v128, dotAdd: bool): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    acc0 = f32x4.add(acc0, quadBlock(o, x, xBytes, xst, wq, ws, c, one, o64, dotAdd));
    acc1 = f32x4.add(acc1, quadBlock(o, x + XB, xBytes, xst + 16, wq + 32, ws + 4, c + 16, one, o64, dotAdd));
    acc2 = f32x4.add(acc2, quadBlock(o, x + 2 * XB, xBytes, xst + 32, wq + 64, ws + 8, c + 32, one, o64, dotAdd));
    acc3 = f32x4.add(acc3, quadBlock(o, x + 3 * XB, xBytes, xst + 48, wq + 96, ws + 12, c + 48, one, o64, dotAdd));
    x += 4 * XB;
    xst += 64;
    wq += 128;
    ws += 16;
    c += 64;
  }
  let sum = f32x4.add(f32x4.add(acc0, acc2), f32x4.add(acc1, acc3));
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    sum = f32x4.add(sum, quadBlock(o, x, xBytes, xst, wq, ws, c, one, o64, dotAdd));
    x += XB;
    xst += 16;
    wq += 32;
    ws += 4;
    c += 16;
  }
  sum = f32x4.add(sum, f32x4.splat(bias));
  v128.store32_lane(o, sum, 0);
  v128.store32_lane(o + oStride, sum, 1);
  v128.store32_lane(o + 2 * oStride, sum, 2);
  v128.store32_lane(o + 3 * oStride, sum, 3);
}

/**
 * Relaxed build: the weights' offset sums (prep(v, u, 2), 16 bytes per block) of rows [t0, t1)
 * into c, made once per tile instead of once per four x rows: two of the 17 multiplies of a block
 * of quadBlock, which on x64 share two ports.
 */
@inline
function cacheOffsets(c: usize, wq: usize, cols: i32, t0: i32, t1: i32, o64: v128, dotAdd: bool): void {
  let w = wq + <usize>t0 * <usize>cols;
  const end = wq + <usize>t1 * <usize>cols;
  while (w < end) {
    v128.store(c, offsetSums(v128.load(w), v128.load(w, 16), o64, dotAdd));
    w += 32;
    c += 16;
  }
}

/** Bytes of scratch matmulQ8 needs per thread for `cols` columns: cacheOffsets' tile. */
export function matmulQ8ScratchBytes(cols: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const tile = max(1, <i32>(TILE_BYTES / <usize>cols));
  return tile * (cols / QB) * 16;
}

/**
 * The x scales of each four rows side by side, for matmulQ8's x quads: xst gets, for rows 4q..4q+3
 * and block j, their four scales at xst + (q·blocks + j)·16 (blocks per row). Rows past the last
 * whole four are left out.
 */
export function interleaveScalesQ8(xst: usize, xs: usize, n: i32, blocks: i32): void {
  const rowBytes = <usize>blocks << 2;
  for (let i = 0; i + 3 < n; i += 4) {
    const s = xs + <usize>i * rowBytes;
    for (let j = 0; j < blocks; j++) {
      const o = <usize>j << 2;
      v128.store(xst, f32x4(load<f32>(s + o), load<f32>(s + rowBytes + o), load<f32>(s + 2 * rowBytes + o), load<f32>(s + 3 * rowBytes + o)));
      xst += 16;
    }
  }
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs from quantizeQ8 over n·cols
 * values, xst from interleaveScalesQ8 (read when n ≥ 4), scratch this thread's
 * matmulQ8ScratchBytes(cols).
 */
export function matmulQ8(out: usize, xq: usize, xs: usize, xst: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ8Rows(out, xq, xs, xst, wq, ws, bias, n, rows, cols, r0, r1, scratch, false);
}

/** matmulQ8 with the relaxed build's dot products added in i32 (see the top of the file): the same bits. */
export function matmulQ8DotAdd(out: usize, xq: usize, xs: usize, xst: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  matmulQ8Rows(out, xq, xs, xst, wq, ws, bias, n, rows, cols, r0, r1, scratch, true);
}

@inline
function matmulQ8Rows(out: usize, xq: usize, xs: usize, xst: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, dotAdd: bool): void {
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  const xBytes = <usize>nb * XB;
  const oStride = <usize>rows << 2;
  // 1 in every i16 lane, built from a value the compiler cannot see: TurboFan does not hoist
  // vector constants out of loops (r1 | 0xffff has all 16 low bits set).
  const one = i16x8.shr_u(i16x8.splat(<i16>(r1 | 0xffff)), 15);
  // 64 in every byte (the relaxed build's offset of x), from the same unseen value: a constant
  // some engines (V8 13) load and broadcast again at every use.
  const o64 = i8x16.shl(i8x16.shr_u(i8x16.splat(<i8>(r1 | 0xff)), 7), 6);
  // One weight row at a time within a tile (one sequential stream from DRAM for decode: two rows
  // interleaved, sharing the x loads, stream much slower). With several x rows, a tile of weight
  // rows that stays in L1 meets every four x rows in turn (then a pair, then one), and each weight
  // block is loaded and prepared once per four; without tiles every x row would come from L2 once
  // per weight row.
  const tile = max(1, <i32>(TILE_BYTES / <usize>cols));
  for (let t0 = r0; t0 < r1; t0 += tile) {
    const t1 = min(r1, t0 + tile);
    let i = 0;
    if (ASC_FEATURE_RELAXED_SIMD && n >= 4) cacheOffsets(scratch, wq, cols, t0, t1, o64, dotAdd);
    for (; i + 3 < n; i += 4) {
      const x = xq + <usize>i * xBytes, xsq = xst + <usize>i * sBytes;
      for (let r = t0; r < t1; r++) {
        const c = scratch + (<usize>(r - t0) * <usize>nb << 4);
        dotQ8x4(out + <usize>i * oStride + (<usize>r << 2), oStride, x, xBytes, xsq, wq + <usize>r * <usize>cols, ws + <usize>r * sBytes, c, nb, biasAt(bias, r), one, o64, dotAdd);
      }
    }
    for (; i + 1 < n; i += 2) {
      const xA = xq + <usize>i * xBytes, xsA = xs + <usize>i * sBytes;
      for (let r = t0; r < t1; r++) {
        const oA = out + <usize>i * oStride + (<usize>r << 2);
        dotQ8x2(oA, oA + oStride, xA, xA + xBytes, xsA, xsA + sBytes, wq + <usize>r * <usize>cols, ws + <usize>r * sBytes, nb, biasAt(bias, r), one, o64, false);
      }
    }
    if (i < n) {
      for (let r = t0; r < t1; r++) {
        const o = out + <usize>i * oStride + (<usize>r << 2);
        store<f32>(o, dotQ8(xq + <usize>i * xBytes, xs + <usize>i * sBytes, wq + <usize>r * <usize>cols, ws + <usize>r * sBytes, nb, o, one, o64, false) + biasAt(bias, r));
      }
    }
  }
}

/**
 * The x-quad loop of matmulQ8 alone (n = 4, rows [0, rows), a tile's offsets in scratch), the i16
 * or the i32 way: small functions the engine optimizes within a few calls, for the backend to
 * time the two ways (src/kernels/wasm/dot-probe.ts).
 */
export function quadRowsQ8(out: usize, xq: usize, xst: usize, wq: usize, ws: usize, rows: i32, cols: i32, scratch: usize): void {
  quadRows(out, xq, xst, wq, ws, rows, cols, scratch, false);
}

export function quadRowsQ8DotAdd(out: usize, xq: usize, xst: usize, wq: usize, ws: usize, rows: i32, cols: i32, scratch: usize): void {
  quadRows(out, xq, xst, wq, ws, rows, cols, scratch, true);
}

@inline
function quadRows(out: usize, xq: usize, xst: usize, wq: usize, ws: usize, rows: i32, cols: i32, scratch: usize, dotAdd: bool): void {
  const nb = cols / QB;
  const one = i16x8.shr_u(i16x8.splat(<i16>(rows | 0xffff)), 15);
  const o64 = i8x16.shl(i8x16.shr_u(i8x16.splat(<i8>(rows | 0xff)), 7), 6);
  if (ASC_FEATURE_RELAXED_SIMD) cacheOffsets(scratch, wq, cols, 0, rows, o64, dotAdd);
  for (let r = 0; r < rows; r++) {
    const c = scratch + (<usize>r * <usize>nb << 4);
    dotQ8x4(out + (<usize>r << 2), <usize>rows << 2, xq, <usize>nb * XB, xst, wq + <usize>r * <usize>cols, ws + <usize>r * (<usize>nb << 2), c, nb, 0, one, o64, dotAdd);
  }
}

/** The mixed variant: weights widened i8 → i32 → f32 against exact f32 x. */
@inline
function dotQ8F32(x: usize, wq: usize, ws: usize, nb: i32): f32 {
  let acc = f32x4.splat(0);
  const end = ws + (<usize>nb << 2);
  while (ws < end) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    for (let k = 0; k < 4; k++) {
      const w16 = v128.load8x8_s(wq);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(x), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w16))));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(x, 16), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w16))));
      wq += 8;
      x += 32;
    }
    acc = f32x4.add(acc, f32x4.mul(f32x4.add(a0, a1), f32x4.splat(load<f32>(ws))));
    ws += 4;
  }
  return hsum(acc);
}

export function matmulQ8F32(out: usize, x: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32): void {
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * <usize>cols;
    const sr = ws + <usize>r * sBytes;
    const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
    for (let i = 0; i < n; i++) {
      const d = dotQ8F32(x + ((<usize>i * <usize>cols) << 2), wr, sr, nb);
      store<f32>(out + ((<usize>i * <usize>rows + <usize>r) << 2), d + b);
    }
  }
}
