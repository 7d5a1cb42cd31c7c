// Causal attention for heads [h0, h1), reading keys and values through the block table.
// Each head owns its own row of scores in scratch, so threads can take disjoint head ranges.
import { exp4, hmax, hsum, madd, transposeSum4 } from "./math";
import { dotF32 } from "./matmul";

/**
 * Weights below e^-60 of the largest are set to exactly 0: they change no f32 sum (whose largest
 * term is 1), and left in, their products with V are denormals, which x86 computes in
 * microcode at ~100x the cost — wasm cannot turn on flush-to-zero.
 */
const CUTOFF: f32 = -60;

/** scores[0..count) = exp(scores - mx), exactly 0 below the cutoff; returns their sum. */
@inline
export function softmaxNumerators(scores: usize, count: i32, mx: f32): f32 {
  const end4 = scores + (<usize>(count & ~3) << 2);
  const end = scores + (<usize>count << 2);
  const m = f32x4.splat(mx);
  const cut = f32x4.splat(CUTOFF);
  let acc = f32x4.splat(0);
  let p = scores;
  for (; p < end4; p += 16) {
    const d = f32x4.sub(v128.load(p), m);
    const e = v128.and(exp4(d), f32x4.gt(d, cut));
    v128.store(p, e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsum(acc);
  for (; p < end; p += 4) {
    const d = load<f32>(p) - mx;
    const e: f32 = d > CUTOFF ? f32x4.extract_lane(exp4(f32x4.splat(d)), 0) : 0;
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

/** scores[0..count) = softmax(scores[0..count)). */
@inline
export function softmaxRow(scores: usize, count: i32): void {
  const end4 = scores + (<usize>(count & ~3) << 2);
  const end = scores + (<usize>count << 2);
  let m4 = f32x4.splat(-Infinity);
  let p = scores;
  for (; p < end4; p += 16) m4 = f32x4.pmax(m4, v128.load(p));
  let mx = hmax(m4);
  for (; p < end; p += 4) mx = max(mx, load<f32>(p));
  const inv = f32x4.splat(<f32>1 / softmaxNumerators(scores, count, mx));
  for (p = scores; p < end4; p += 16) v128.store(p, f32x4.mul(v128.load(p), inv));
  for (; p < end; p += 4) store<f32>(p, load<f32>(p) * f32x4.extract_lane(inv, 0));
}

/** o[0..d) += a·v[0..d) */
@inline
export function axpyRow(o: usize, v: usize, a: f32, d: i32): void {
  const av = f32x4.splat(a);
  const end4 = o + (<usize>(d & ~3) << 2);
  while (o < end4) {
    v128.store(o, madd(av, v128.load(v), v128.load(o)));
    o += 16;
    v += 16;
  }
  const end = end4 + (<usize>(d & 3) << 2);
  while (o < end) {
    store<f32>(o, load<f32>(o) + a * load<f32>(v));
    o += 4;
    v += 4;
  }
}

/** [q·k0, q·k1, q·k2, q·k3] for four cache rows `stride` bytes apart: one q load feeds four rows. */
@inline
function dot4(q: usize, k: usize, stride: usize, d: i32): v128 {
  const k1 = k + stride, k2 = k1 + stride, k3 = k2 + stride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const vecBytes = <usize>(d & ~3) << 2;
  for (let c: usize = 0; c < vecBytes; c += 16) {
    const qv = v128.load(q + c);
    a0 = madd(qv, v128.load(k + c), a0);
    a1 = madd(qv, v128.load(k1 + c), a1);
    a2 = madd(qv, v128.load(k2 + c), a2);
    a3 = madd(qv, v128.load(k3 + c), a3);
  }
  let s = transposeSum4(a0, a1, a2, a3);
  const bytes = <usize>d << 2;
  for (let c = vecBytes; c < bytes; c += 4) {
    const kv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(k + c)),
      1, load<f32>(k1 + c)), 2, load<f32>(k2 + c)), 3, load<f32>(k3 + c));
    s = madd(kv, f32x4.splat(load<f32>(q + c)), s);
  }
  return s;
}

/** o[0..d) += Σ_j w[j]·v_j[0..d) for four cache rows `stride` bytes apart: o is read and written once. */
@inline
function axpy4(o: usize, v: usize, stride: usize, w: v128, d: i32): void {
  const v1 = v + stride, v2 = v1 + stride, v3 = v2 + stride;
  const w0 = v128.shuffle<f32>(w, w, 0, 0, 0, 0), w1 = v128.shuffle<f32>(w, w, 1, 1, 1, 1);
  const w2 = v128.shuffle<f32>(w, w, 2, 2, 2, 2), w3 = v128.shuffle<f32>(w, w, 3, 3, 3, 3);
  const vecBytes = <usize>(d & ~3) << 2;
  for (let c: usize = 0; c < vecBytes; c += 16) {
    const s01 = madd(w1, v128.load(v1 + c), f32x4.mul(w0, v128.load(v + c)));
    const s23 = madd(w3, v128.load(v3 + c), f32x4.mul(w2, v128.load(v2 + c)));
    v128.store(o + c, f32x4.add(v128.load(o + c), f32x4.add(s01, s23)));
  }
  const bytes = <usize>d << 2;
  for (let c = vecBytes; c < bytes; c += 4) {
    const a = f32x4.extract_lane(w, 0) * load<f32>(v + c) + f32x4.extract_lane(w, 1) * load<f32>(v1 + c);
    const b = f32x4.extract_lane(w, 2) * load<f32>(v2 + c) + f32x4.extract_lane(w, 3) * load<f32>(v3 + c);
    store<f32>(o + c, load<f32>(o + c) + (a + b));
  }
}

/**
 * Position-major: for each cached position, every head of [h0, h1) takes its slice of the same
 * K (then V) row, so a thread reads its part of each row in one contiguous run.
 */
export function attention(
  out: usize, q: usize, k: usize, v: usize, table: usize, blockSize: i32,
  pos: i32, t: i32, nHead: i32, headDim: i32, scratch: usize, h0: i32, h1: i32,
): void {
  const rowBytes = <usize>(nHead * headDim) << 2;
  const headBytes = <usize>headDim << 2;
  const scoreBytes = <usize>(pos + t) << 2; // one row of scores per head
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const sc = f32x4.splat(scale);
  const first = scratch + <usize>h0 * scoreBytes;
  // Four positions at a time share each q (and output) load, which pays when the rows come from
  // cache, as in prefill where every query rereads them. A decode step streams each row once
  // from DRAM, and there four interleaved row streams halve the bandwidth: one row at a time.
  const group = t > 1;
  const begin = <usize>h0 * headBytes, end = <usize>h1 * headBytes;
  for (let i = 0; i < t; i++) {
    const qi = q + <usize>i * rowBytes;
    const oi = out + <usize>i * rowBytes;
    const visible = pos + i + 1;
    // Scores: within a block consecutive positions are consecutive rows, taken four at a time.
    let sp: usize = 0; // byte offset of position p in a head's score row
    for (let p = 0, blk = 0; p < visible; blk++) {
      const count = min(blockSize, visible - p);
      const kb = k + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes;
      let j = 0;
      for (; group && j + 4 <= count; j += 4) {
        const kr = kb + <usize>j * rowBytes;
        let s = first + sp;
        for (let h = begin; h < end; h += headBytes) {
          v128.store(s, f32x4.mul(dot4(qi + h, kr + h, rowBytes, headDim), sc));
          s += scoreBytes;
        }
        sp += 16;
      }
      for (; j < count; j++) {
        const kr = kb + <usize>j * rowBytes;
        let s = first + sp;
        for (let h = begin; h < end; h += headBytes) {
          store<f32>(s, dotF32(qi + h, kr + h, headDim) * scale);
          s += scoreBytes;
        }
        sp += 4;
      }
      p += count;
    }
    // Softmax per head, leaving normalized weights in the score rows.
    for (let s = first, h = h0; h < h1; h++, s += scoreBytes) softmaxRow(s, visible);
    memory.fill(oi + begin, 0, end - begin);
    sp = 0;
    for (let p = 0, blk = 0; p < visible; blk++) {
      const count = min(blockSize, visible - p);
      const vb = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes;
      let j = 0;
      for (; group && j + 4 <= count; j += 4) {
        const vr = vb + <usize>j * rowBytes;
        let s = first + sp;
        for (let h = begin; h < end; h += headBytes) {
          axpy4(oi + h, vr + h, rowBytes, v128.load(s), headDim);
          s += scoreBytes;
        }
        sp += 16;
      }
      for (; j < count; j++) {
        const vr = vb + <usize>j * rowBytes;
        let s = first + sp;
        for (let h = begin; h < end; h += headBytes) {
          axpyRow(oi + h, vr + h, load<f32>(s), headDim);
          s += scoreBytes;
        }
        sp += 4;
      }
      p += count;
    }
  }
}
