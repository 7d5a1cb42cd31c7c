// f32 matmul: out (n, rows) = x (n, cols) · wᵀ + bias, for output rows [r0, r1) only, so threads
// can split the output features. Pointers are byte offsets into the shared memory.
import { hsum, madd, transposeSum4 } from "./math";

/** Dot product of one x row and one w row: one row at a time, 4 independent accumulators. */
@inline
export function dotF32(x: usize, w: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end16 = w + (<usize>(cols & ~15) << 2);
  while (w < end16) {
    a0 = madd(v128.load(x), v128.load(w), a0);
    a1 = madd(v128.load(x, 16), v128.load(w, 16), a1);
    a2 = madd(v128.load(x, 32), v128.load(w, 32), a2);
    a3 = madd(v128.load(x, 48), v128.load(w, 48), a3);
    x += 64;
    w += 64;
  }
  const end4 = end16 + (<usize>(cols & 12) << 2);
  while (w < end4) {
    a0 = madd(v128.load(x), v128.load(w), a0);
    x += 16;
    w += 16;
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  const end = end4 + (<usize>(cols & 3) << 2);
  while (w < end) {
    s += load<f32>(x) * load<f32>(w);
    x += 4;
    w += 4;
  }
  return s;
}

@inline
function biasAt(bias: usize, r: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>r << 2));
}

function matvecF32(out: usize, x: usize, w: usize, bias: usize, cols: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = r0; r < r1; r++) {
    store<f32>(out + (<usize>r << 2), dotF32(x, w + <usize>r * rowBytes, cols) + biasAt(bias, r));
  }
}

/**
 * Two x rows against four w rows: 8 accumulators, the most x64's 16 vector registers hold
 * without spills. The caller keeps the four w rows hot in L1 while sweeping all x rows.
 */
function block2x4(out: usize, x: usize, w: usize, bias4: v128, cols: i32, rows: i32, xRows: i32): void {
  const rowBytes = <usize>cols << 2;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  const x1 = x + rowBytes;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  const vecBytes = <usize>(cols & ~3) << 2;
  if (xRows == 2) {
    for (let c: usize = 0; c < vecBytes; c += 16) {
      const xa = v128.load(x + c), xb = v128.load(x1 + c);
      const wa = v128.load(w + c), wb = v128.load(w1 + c), wc = v128.load(w2 + c), wd = v128.load(w3 + c);
      a00 = madd(xa, wa, a00);
      a01 = madd(xa, wb, a01);
      a02 = madd(xa, wc, a02);
      a03 = madd(xa, wd, a03);
      a10 = madd(xb, wa, a10);
      a11 = madd(xb, wb, a11);
      a12 = madd(xb, wc, a12);
      a13 = madd(xb, wd, a13);
    }
  } else {
    for (let c: usize = 0; c < vecBytes; c += 16) {
      const xa = v128.load(x + c);
      a00 = madd(xa, v128.load(w + c), a00);
      a01 = madd(xa, v128.load(w1 + c), a01);
      a02 = madd(xa, v128.load(w2 + c), a02);
      a03 = madd(xa, v128.load(w3 + c), a03);
    }
  }
  let s0 = f32x4.add(transposeSum4(a00, a01, a02, a03), bias4);
  let s1 = f32x4.add(transposeSum4(a10, a11, a12, a13), bias4);
  // Scalar tail of cols % 4, gathered into vectors so the stores stay vector stores.
  for (let c = vecBytes; c < rowBytes; c += 4) {
    const wv = f32x4(0, 0, 0, 0);
    const t = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(wv,
      0, load<f32>(w + c)), 1, load<f32>(w1 + c)), 2, load<f32>(w2 + c)), 3, load<f32>(w3 + c));
    s0 = madd(t, f32x4.splat(load<f32>(x + c)), s0);
    if (xRows == 2) s1 = madd(t, f32x4.splat(load<f32>(x1 + c)), s1);
  }
  v128.store(out, s0);
  if (xRows == 2) v128.store(out + (<usize>rows << 2), s1);
}

export function matmulF32(out: usize, x: usize, w: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32): void {
  if (n == 1) {
    matvecF32(out, x, w, bias, cols, r0, r1);
    return;
  }
  const rowBytes = <usize>cols << 2;
  const outRowBytes = <usize>rows << 2;
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const wr = w + <usize>r * rowBytes;
    const bias4 = bias == 0 ? f32x4.splat(0) : v128.load(bias + (<usize>r << 2));
    let i = 0;
    for (; i + 2 <= n; i += 2) {
      block2x4(out + <usize>i * outRowBytes + (<usize>r << 2), x + <usize>i * rowBytes, wr, bias4, cols, rows, 2);
    }
    if (i < n) block2x4(out + <usize>i * outRowBytes + (<usize>r << 2), x + <usize>i * rowBytes, wr, bias4, cols, rows, 1);
  }
  for (; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    const b = biasAt(bias, r);
    for (let i = 0; i < n; i++) {
      store<f32>(out + <usize>i * outRowBytes + (<usize>r << 2), dotF32(x + <usize>i * rowBytes, wr, cols) + b);
    }
  }
}
