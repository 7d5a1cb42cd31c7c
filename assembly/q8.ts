// int8 matmul: weights are Q8_0 blocks (32 int8 + one f32 scale). Two variants, both kept
// (bench/kernels.ts times them): quantize x to Q8_0 too and do integer dot products (fewer instructions
// per weight, but x loses precision to 8 bits per block), or widen weights to f32 (exact x).
// The quantized x is stored widened to i16: every weight row reads it again. The weights are not
// sign-extended (one shuffle µop per 8, two per cycle: what bounded this kernel): each i16 lane
// of a plain load holds two of them, and a shift and a mask put either one, times 256, in the
// lane's high byte. x is stored with its even and odd positions of every 16 apart to match, and
// its scale divided by 256 (exactly: a power of two) to cancel the factor.
import { hsum, transposeSum4i } from "./math";

const QB: i32 = 32;

/**
 * x (n·cols) f32 → xq: int8 values stored as i16, each 16 as [even positions, odd positions],
 * plus one scale / 256 per 32 values; cols·n must be a multiple of 32.
 */
export function quantizeQ8(xq: usize, xs: usize, x: usize, blocks: i32): void {
  for (let b = 0; b < blocks; b++) {
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    const scale: f32 = amax / 127;
    store<f32>(xs, scale * (<f32>1 / 256));
    const inv = f32x4.splat(amax == 0 ? <f32>0 : <f32>127 / amax);
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
    v128.store(xq, v128.shuffle<i16>(a, b, 0, 2, 4, 6, 8, 10, 12, 14));
    v128.store(xq, v128.shuffle<i16>(a, b, 1, 3, 5, 7, 9, 11, 13, 15), 16);
    v128.store(xq, v128.shuffle<i16>(c, d, 0, 2, 4, 6, 8, 10, 12, 14), 32);
    v128.store(xq, v128.shuffle<i16>(c, d, 1, 3, 5, 7, 9, 11, 13, 15), 48);
    x += 128;
    xq += 64;
    xs += 4;
  }
}

/**
 * 256 × Σ of one 32-block product as i32x4 lanes. |x| ≤ 127 and |w| ≤ 128, so a block's sum is
 * below 2^27 and, a multiple of 256, exact in f32.
 */
@inline
function blockDot(x: usize, w: usize): v128 {
  const high = i16x8.splat(-256);
  const w0 = v128.load(w), w1 = v128.load(w, 16);
  const d0 = i32x4.dot_i16x8_s(i16x8.shl(w0, 8), v128.load(x));
  const d1 = i32x4.dot_i16x8_s(v128.and(w0, high), v128.load(x, 16));
  const d2 = i32x4.dot_i16x8_s(i16x8.shl(w1, 8), v128.load(x, 32));
  const d3 = i32x4.dot_i16x8_s(v128.and(w1, high), v128.load(x, 48));
  return i32x4.add(i32x4.add(d0, d1), i32x4.add(d2, d3));
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
function dotQ8(xq: usize, xs: usize, wq: usize, ws: usize, nb: i32, sink: usize): f32 {
  let acc = f32x4.splat(0);
  const end4 = ws + (<usize>(nb & ~3) << 2);
  while (ws < end4) {
    const s0 = blockDot(xq, wq);
    v128.store32_lane(sink, s0, 0);
    const s1 = blockDot(xq + 64, wq + 32);
    v128.store32_lane(sink, s1, 0);
    const s2 = blockDot(xq + 128, wq + 64);
    v128.store32_lane(sink, s2, 0);
    const s3 = blockDot(xq + 192, wq + 96);
    const s = transposeSum4i(s0, s1, s2, s3);
    const d = f32x4.mul(v128.load(ws), v128.load(xs));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), d));
    v128.store32_lane(sink, s, 0);
    xq += 256;
    wq += 128;
    xs += 16;
    ws += 16;
  }
  let sum = hsum(acc);
  const end = end4 + (<usize>(nb & 3) << 2);
  while (ws < end) {
    const s = blockDot(xq, wq);
    const t = i32x4.add(s, v128.shuffle<i32>(s, s, 2, 3, 0, 1));
    const si = i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1);
    sum += <f32>si * (load<f32>(ws) * load<f32>(xs));
    xq += 64;
    wq += 32;
    xs += 4;
    ws += 4;
  }
  return sum;
}

export function matmulQ8(out: usize, xq: usize, xs: usize, wq: usize, ws: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32): void {
  const nb = cols / QB;
  const sBytes = <usize>nb << 2;
  // Rows outer: one weight row (cols bytes) stays in L1 while every x row passes over it.
  // One row at a time: interleaving two rows (sharing the x loads) is a little faster with the
  // weights in cache but much slower streaming them from DRAM (two streams instead of one).
  for (let r = r0; r < r1; r++) {
    const wr = wq + <usize>r * <usize>cols;
    const sr = ws + <usize>r * sBytes;
    const b: f32 = bias == 0 ? 0 : load<f32>(bias + (<usize>r << 2));
    for (let i = 0; i < n; i++) {
      const o = out + ((<usize>i * <usize>rows + <usize>r) << 2);
      store<f32>(o, dotQ8(xq + ((<usize>i * <usize>cols) << 1), xs + <usize>i * sBytes, wr, sr, nb, o) + b);
    }
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
