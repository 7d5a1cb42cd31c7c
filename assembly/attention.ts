// Causal attention for heads [h0, h1), reading keys and values through the block table.
// Each head owns its own row of scores in scratch, so threads can take disjoint head ranges.
import { exp4, hmax, hsum, madd, transposeSum4 } from "./math";
import { dotF32 } from "./matmul";

/** scores[0..count) = exp(scores - max); returns their sum. */
@inline
function softmaxNumerators(scores: usize, count: i32, mx: f32): f32 {
  const m = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let p = scores;
  const end4 = scores + (<usize>(count & ~3) << 2);
  while (p < end4) {
    const e = exp4(f32x4.sub(v128.load(p), m));
    v128.store(p, e);
    acc = f32x4.add(acc, e);
    p += 16;
  }
  let sum = hsum(acc);
  const end = scores + (<usize>count << 2);
  while (p < end) {
    const e = f32x4.extract_lane(exp4(f32x4.splat(load<f32>(p) - mx)), 0);
    store<f32>(p, e);
    sum += e;
    p += 4;
  }
  return sum;
}

/** o[0..d) += a·v[0..d) */
@inline
function axpy(o: usize, v: usize, a: f32, d: i32): void {
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

export function attention(
  out: usize, q: usize, k: usize, v: usize, table: usize, blockSize: i32,
  pos: i32, t: i32, nHead: i32, headDim: i32, scratch: usize, h0: i32, h1: i32,
): void {
  const rowBytes = <usize>(nHead * headDim) << 2;
  const headBytes = <usize>headDim << 2;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  for (let h = h0; h < h1; h++) {
    const scores = scratch + (<usize>(h * (pos + t)) << 2);
    const headOff = <usize>h * headBytes;
    for (let i = 0; i < t; i++) {
      const qp = q + <usize>i * rowBytes + headOff;
      const visible = pos + i + 1;
      // Within a block consecutive positions are consecutive rows: take them four at a time.
      let mx4 = f32x4.splat(-Infinity);
      let mx: f32 = -Infinity;
      let sp = scores;
      const sc = f32x4.splat(scale);
      for (let p = 0, blk = 0; p < visible; blk++) {
        const count = min(blockSize, visible - p);
        let kp = k + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes + headOff;
        let j = 0;
        for (; j + 4 <= count; j += 4) {
          const s4 = f32x4.mul(dot4(qp, kp, rowBytes, headDim), sc);
          v128.store(sp, s4);
          mx4 = f32x4.pmax(mx4, s4);
          sp += 16;
          kp += rowBytes << 2;
        }
        for (; j < count; j++) {
          const s1 = dotF32(qp, kp, headDim) * scale;
          store<f32>(sp, s1);
          mx = max(mx, s1);
          sp += 4;
          kp += rowBytes;
        }
        p += count;
      }
      mx = max(mx, hmax(mx4));
      const inv: f32 = 1 / softmaxNumerators(scores, visible, mx);
      const op = out + <usize>i * rowBytes + headOff;
      memory.fill(op, 0, headBytes);
      sp = scores;
      const iv = f32x4.splat(inv);
      for (let p = 0, blk = 0; p < visible; blk++) {
        const count = min(blockSize, visible - p);
        let vp = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes + headOff;
        let j = 0;
        for (; j + 4 <= count; j += 4) {
          axpy4(op, vp, rowBytes, f32x4.mul(v128.load(sp), iv), headDim);
          sp += 16;
          vp += rowBytes << 2;
        }
        for (; j < count; j++) {
          axpy(op, vp, load<f32>(sp) * inv, headDim);
          sp += 4;
          vp += rowBytes;
        }
        p += count;
      }
    }
  }
}
