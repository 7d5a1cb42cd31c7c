// Q4_K matmul: ggml's super-blocks of 256 weights, eight sub-blocks of 32 with 6-bit scales sc and
// mins m, and per super-block an f16 d and dmin: w = d·sc·q − dmin·m, q a nibble 0..15. Loading
// repacks each super-block (src/kernels/q4k.ts) into what the q4 kernel reads: every sub-block's
// 16 bytes of nibbles in Q4_0's order (byte j: element j low, j + 16 high), d and dmin as two f32,
// and the sixteen 6-bit values as bytes (sc0..sc7, m0..m7). So the integer sums Σ q·x per
// sub-block are q4.ts's, against x quantized by quantizeQ4X, and each super-block adds
//   d · Σ_j xs_j · (sc_j · Σ q·x)  −  dmin · Σ_j m_j · (xs_j · Σ x)
// where xs_j and Σ x are the quantized x block's scale and sum (the mins term needs no nibbles):
// sc_j · Σ q·x is an integer product, and xs_j · Σ x is made once per x row by quantizeQ4KX.
import { hsum, transposeSum4i } from "./math";
import { blockDot32, pairDot, quantizeQ4X, unpackRow, unpackedBlockDot32 } from "./q4";

/** Sub-blocks per super-block, and the bytes of one quantized x block (quantizeQ4X's layout). */
const SUBS: usize = 8;
const XB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Bytes of one sub-block's nibbles, and of one unpacked sub-block (q4.ts's unpackRow). */
const WB: usize = 16;
const UB: usize = ASC_FEATURE_RELAXED_SIMD ? 32 : 64;
/** Σ x in the units of the sums: ·256 in the baseline build, whose x scales carry 1/256. */
const XSUM_SHIFT: i32 = ASC_FEATURE_RELAXED_SIMD ? 0 : 8;

/** Σ x in the sums' units (the relaxed build's need no shift). */
@inline
function xsumScaled(v: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? v : i32x4.shl(v, XSUM_SHIFT);
}

/**
 * quantizeQ4X (blocks a multiple of 4), then each block's Σ q replaced in place by the f32
 * Σ q · scale in the sums' units: the mins term's factor from x, made once per x row rather than
 * once per weight row.
 */
export function quantizeQ4KX(xq: usize, xs: usize, xsum: usize, x: usize, blocks: i32): void {
  quantizeQ4X(xq, xs, xsum, x, blocks);
  const end = xsum + (<usize>blocks << 2);
  for (; xsum < end; xsum += 16, xs += 16) {
    v128.store(xsum, f32x4.mul(f32x4.convert_i32x4_s(xsumScaled(v128.load(xsum))), v128.load(xs)));
  }
}

/**
 * One super-block's contribution, from its sub-blocks' integer sums (lo: 0-3, hi: 4-7): the same
 * operations in the same order on every path, so a row's result does not depend on the path.
 * `sm` points at the 16 bytes sc0..sc7, m0..m7; `dm` at d and dmin; `xm` at quantizeQ4KX's
 * per-block Σx·scale. Each sum times its 6-bit scale stays exact in i32 (|·| < 2^30 with the
 * baseline's factor 256), and its one rounding to f32 is the one an f32 product of the two would
 * make. The 6-bit values convert as signed (the same numbers, one instruction).
 */
@inline
function superBlock(lo: v128, hi: v128, xs: usize, xm: usize, sm: usize, dm: usize): v128 {
  const bytes = v128.load(sm);
  const sc = i16x8.extend_low_i8x16_u(bytes), m = i16x8.extend_high_i8x16_u(bytes);
  const dots = f32x4.add(
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.mul(lo, i32x4.extend_low_i16x8_u(sc))), v128.load(xs)),
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.mul(hi, i32x4.extend_high_i16x8_u(sc))), v128.load(xs, 16)));
  const mins = f32x4.add(
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_u(m)), v128.load(xm)),
    f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_u(m)), v128.load(xm, 16)));
  return f32x4.sub(f32x4.mul(dots, f32x4.splat(load<f32>(dm))), f32x4.mul(mins, f32x4.splat(load<f32>(dm, 4))));
}

/**
 * One weight row against one x row. `sink` is a 4-byte slot only this thread writes: a store
 * after each pair of sub-blocks fences the next loads behind it, so TurboFan does not hoist them
 * all to the loop top and spill (as in q4.ts).
 */
@inline
function dotQ4K(xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, supers: i32, sink: usize, m0: v128, m1: v128, m2: v128): f32 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    const s0 = blockDot32(xq, wq, m0, m1, m2);
    const s1 = blockDot32(xq + XB, wq + WB, m0, m1, m2);
    v128.store32_lane(sink, s1, 0);
    const s2 = blockDot32(xq + 2 * XB, wq + 2 * WB, m0, m1, m2);
    const s3 = blockDot32(xq + 3 * XB, wq + 3 * WB, m0, m1, m2);
    const lo = transposeSum4i(s0, s1, s2, s3);
    v128.store32_lane(sink, lo, 0);
    const s4 = blockDot32(xq + 4 * XB, wq + 4 * WB, m0, m1, m2);
    const s5 = blockDot32(xq + 5 * XB, wq + 5 * WB, m0, m1, m2);
    v128.store32_lane(sink, s5, 0);
    const s6 = blockDot32(xq + 6 * XB, wq + 6 * WB, m0, m1, m2);
    const s7 = blockDot32(xq + 7 * XB, wq + 7 * WB, m0, m1, m2);
    const hi = transposeSum4i(s4, s5, s6, s7);
    acc = f32x4.add(acc, superBlock(lo, hi, xs, xm, sm, dm));
    v128.store32_lane(sink, hi, 0);
    xq += SUBS * XB;
    wq += SUBS * WB;
    xs += SUBS * 4;
    xm += SUBS * 4;
    sm += 16;
    dm += 8;
  }
  return hsum(acc);
}

/** dotQ4K over a row unpacked by unpackRow: the same sums in the same order. */
@inline
function dotQ4KUnpacked(xq: usize, xs: usize, xm: usize, u: usize, sm: usize, dm: usize, supers: i32, sink: usize): f32 {
  let acc = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    const s0 = unpackedBlockDot32(xq, u);
    const s1 = unpackedBlockDot32(xq + XB, u + UB);
    v128.store32_lane(sink, s1, 0);
    const s2 = unpackedBlockDot32(xq + 2 * XB, u + 2 * UB);
    const s3 = unpackedBlockDot32(xq + 3 * XB, u + 3 * UB);
    const lo = transposeSum4i(s0, s1, s2, s3);
    v128.store32_lane(sink, lo, 0);
    const s4 = unpackedBlockDot32(xq + 4 * XB, u + 4 * UB);
    const s5 = unpackedBlockDot32(xq + 5 * XB, u + 5 * UB);
    v128.store32_lane(sink, s5, 0);
    const s6 = unpackedBlockDot32(xq + 6 * XB, u + 6 * UB);
    const s7 = unpackedBlockDot32(xq + 7 * XB, u + 7 * UB);
    const hi = transposeSum4i(s4, s5, s6, s7);
    acc = f32x4.add(acc, superBlock(lo, hi, xs, xm, sm, dm));
    v128.store32_lane(sink, hi, 0);
    xq += SUBS * XB;
    u += SUBS * UB;
    xs += SUBS * 4;
    xm += SUBS * 4;
    sm += 16;
    dm += 8;
  }
  return hsum(acc);
}

/** Two x rows against one unpacked row: each unpacked vector loaded once for both. Same sums, same order. */
@inline
function dotQ4KUnpacked2(out0: usize, out1: usize, xq: usize, xs: usize, xm: usize, xStride: usize, sStride: usize, u: usize, sm: usize, dm: usize, supers: i32, b: f32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  for (let k = 0; k < supers; k++) {
    const p0 = pairDot(xq, xq + xStride, u);
    const p1 = pairDot(xq + XB, xq + xStride + XB, u + UB);
    v128.store32_lane(out0, p1, 0);
    const p2 = pairDot(xq + 2 * XB, xq + xStride + 2 * XB, u + 2 * UB);
    const p3 = pairDot(xq + 3 * XB, xq + xStride + 3 * XB, u + 3 * UB);
    const q01 = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 2, 6), v128.shuffle<i32>(p0, p1, 1, 5, 3, 7));
    const q23 = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 2, 6), v128.shuffle<i32>(p2, p3, 1, 5, 3, 7));
    v128.store32_lane(out0, q23, 0);
    const p4 = pairDot(xq + 4 * XB, xq + xStride + 4 * XB, u + 4 * UB);
    const p5 = pairDot(xq + 5 * XB, xq + xStride + 5 * XB, u + 5 * UB);
    v128.store32_lane(out0, p5, 0);
    const p6 = pairDot(xq + 6 * XB, xq + xStride + 6 * XB, u + 6 * UB);
    const p7 = pairDot(xq + 7 * XB, xq + xStride + 7 * XB, u + 7 * UB);
    const q45 = i32x4.add(v128.shuffle<i32>(p4, p5, 0, 4, 2, 6), v128.shuffle<i32>(p4, p5, 1, 5, 3, 7));
    const q67 = i32x4.add(v128.shuffle<i32>(p6, p7, 0, 4, 2, 6), v128.shuffle<i32>(p6, p7, 1, 5, 3, 7));
    // q_ij = [a_i, a_j, b_i, b_j]: each row's sub-block sums 0-3 and 4-7.
    const aLo = v128.shuffle<i32>(q01, q23, 0, 1, 4, 5), bLo = v128.shuffle<i32>(q01, q23, 2, 3, 6, 7);
    const aHi = v128.shuffle<i32>(q45, q67, 0, 1, 4, 5), bHi = v128.shuffle<i32>(q45, q67, 2, 3, 6, 7);
    acc0 = f32x4.add(acc0, superBlock(aLo, aHi, xs, xm, sm, dm));
    acc1 = f32x4.add(acc1, superBlock(bLo, bHi, xs + sStride, xm + sStride, sm, dm));
    v128.store32_lane(out0, bHi, 0);
    xq += SUBS * XB;
    u += SUBS * UB;
    xs += SUBS * 4;
    xm += SUBS * 4;
    sm += 16;
    dm += 8;
  }
  store<f32>(out0, hsum(acc0) + b);
  store<f32>(out1, hsum(acc1) + b);
}

/**
 * out (n, rows) = x · wᵀ + bias for weight rows [r0, r1): xq, xs, xm from quantizeQ4KX over
 * n·cols values (cols a multiple of 256); wq the repacked nibbles (rows·cols / 2 bytes), sm the
 * sub-blocks' scale and min bytes (16 per super-block), dm each super-block's d and dmin (f32);
 * scratch holds cols·2 bytes of this thread's own (one unpacked row, n > 1 only).
 */
export function matmulQ4K(out: usize, xq: usize, xs: usize, xm: usize, wq: usize, sm: usize, dm: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  const supers = cols >> 8;
  const nb = cols >> 5;
  const sBytes = <usize>nb << 2;
  const xStride = <usize>nb * XB;
  const outStride = <usize>rows << 2;
  // The nibble masks, from a value the compilers cannot see (see matmulQ4).
  const ones = i16x8.splat(<i16>(r1 | 0xffff));
  const m0 = ASC_FEATURE_RELAXED_SIMD ? v128.and(ones, i8x16.splat(0x0f)) : i16x8.shr_u(ones, 12);
  const m1 = i16x8.shl(m0, 8), m2 = i16x8.shl(m0, 4);
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * (<usize>nb * WB);
    const smr = sm + (<usize>r * <usize>supers << 4);
    const dmr = dm + (<usize>r * <usize>supers << 3);
    const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
    const o = out + (<usize>r << 2);
    if (n > 1) {
      unpackRow(scratch, wr, nb, m0, m1, m2);
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const oi = o + <usize>i * outStride;
        dotQ4KUnpacked2(oi, oi + outStride, xq + <usize>i * xStride, xs + <usize>i * sBytes, xm + <usize>i * sBytes, xStride, sBytes, scratch, smr, dmr, supers, b);
      }
      for (; i < n; i++) {
        const oi = o + <usize>i * outStride;
        store<f32>(oi, dotQ4KUnpacked(xq + <usize>i * xStride, xs + <usize>i * sBytes, xm + <usize>i * sBytes, scratch, smr, dmr, supers, oi) + b);
      }
      continue;
    }
    for (let i = 0; i < n; i++) {
      const oi = o + <usize>i * outStride;
      store<f32>(oi, dotQ4K(xq + <usize>i * xStride, xs + <usize>i * sBytes, xm + <usize>i * sBytes, wr, smr, dmr, supers, oi, m0, m1, m2) + b);
    }
  }
}
