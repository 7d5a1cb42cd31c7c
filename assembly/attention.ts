// Causal attention for heads [h0, h1), reading keys and values through the block table.
// Each head owns its own row of scores in scratch, so threads can take disjoint head ranges.
import { exp4, hmax, hsum } from "./math";
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
    v128.store(o, f32x4.add(v128.load(o), f32x4.mul(av, v128.load(v))));
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
      let mx: f32 = -Infinity;
      let sp = scores;
      for (let p = 0, blk = 0; p < visible; blk++) {
        const count = min(blockSize, visible - p);
        let kp = k + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes + headOff;
        for (let j = 0; j < count; j++) {
          const s = dotF32(qp, kp, headDim) * scale;
          store<f32>(sp, s);
          mx = max(mx, s);
          sp += 4;
          kp += rowBytes;
        }
        p += count;
      }
      const inv: f32 = 1 / softmaxNumerators(scores, visible, mx);
      const op = out + <usize>i * rowBytes + headOff;
      memory.fill(op, 0, headBytes);
      sp = scores;
      for (let p = 0, blk = 0; p < visible; blk++) {
        const count = min(blockSize, visible - p);
        let vp = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize) * rowBytes + headOff;
        for (let j = 0; j < count; j++) {
          axpy(op, vp, load<f32>(sp) * inv, headDim);
          sp += 4;
          vp += rowBytes;
        }
        p += count;
      }
    }
  }
}
