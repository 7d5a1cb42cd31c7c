// F16 matmul: the weights stay halves in memory (half the bytes of f32), each the IEEE half of
// w · 2^10 (src/kernels/f16.ts: no subnormals), and are read exactly, so every output has the
// same bits as matmulF32 over the same weights widened at load, in the same canonical order.
//   decode (n = 1): the halves' bits are moved into f32's place in registers, which reads them as
//     w · 2^-102, and x comes scaled by 2^102 (scaleForF16), so each product is x·w exactly;
//     one sequential weight stream, as dotF32;
//   n > 1 (or an x too large to scale): each weight row, or block of four, is widened once into
//     this thread's scratch and the f32 kernels run over it from L1, where the widening is
//     amortised over the x rows.
import { biasAt, block4ForAllX, rowForAllX, SMALL_N } from "./matmul";
import { hsum, madd, scaleExactly } from "./math";

/**
 * 2^102: a half's exponent and mantissa moved to where f32 keeps them read as its value · 2^-112,
 * and the value is w · 2^10.
 */
const HALF_SCALE: f32 = 5.070602400912918e30;
/** x · 2^102 stays finite below this. */
const MAX_SCALED_X: f32 = 67108864; // 2^26

/**
 * Four stored halves, sign-extended to i32 by the load, as f32s of w · 2^-102: shifted so
 * exponent and mantissa sit where f32's do, the smeared sign bits cleared. Never a denormal
 * (which x86 would multiply in microcode), as the stored halves are normal or zero.
 */
@inline
function moveBits(h: v128): v128 {
  return v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff));
}

/** Four stored halves as the weights themselves. */
@inline
function widen(h: v128): v128 {
  return f32x4.mul(moveBits(h), f32x4.splat(HALF_SCALE));
}

/** One stored half as w · 2^-102. */
@inline
function movedAt(p: usize): f32 {
  const h = <u32>load<u16>(p);
  return reinterpret<f32>(((h & 0x7fff) << 13) | ((h & 0x8000) << 16));
}

/**
 * xs[0..len) = x · 2^102 for the decode kernel, exactly. Returns 0, and the kernel must be told
 * the x is not scaled, if some |x| ≥ 2^26 (or NaN), whose scaled value would not be exact.
 */
export function scaleForF16(xs: usize, x: usize, len: i32): i32 {
  return scaleExactly(xs, x, len, HALF_SCALE, MAX_SCALED_X);
}

/** dotF32 (same order, same bits) of x over a row of stored halves, given xs = x · 2^102. */
@inline
function dotF16(x: usize, w: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end16 = w + (<usize>(cols & ~15) << 1);
  while (w < end16) {
    a0 = madd(v128.load(x), moveBits(v128.load16x4_s(w)), a0);
    a1 = madd(v128.load(x, 16), moveBits(v128.load16x4_s(w, 8)), a1);
    a2 = madd(v128.load(x, 32), moveBits(v128.load16x4_s(w, 16)), a2);
    a3 = madd(v128.load(x, 48), moveBits(v128.load16x4_s(w, 24)), a3);
    x += 64;
    w += 32;
  }
  const end4 = end16 + (<usize>(cols & 12) << 1);
  while (w < end4) {
    a0 = madd(v128.load(x), moveBits(v128.load16x4_s(w)), a0);
    x += 16;
    w += 8;
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  const end = end4 + (<usize>(cols & 3) << 1);
  while (w < end) {
    s += load<f32>(x) * movedAt(w);
    x += 4;
    w += 2;
  }
  return s;
}

/** dst[0..count) = the halves at src, widened. */
function widenHalves(dst: usize, src: usize, count: i32): void {
  const end8 = src + (<usize>(count & ~7) << 1);
  while (src < end8) {
    v128.store(dst, widen(v128.load16x4_s(src)));
    v128.store(dst, widen(v128.load16x4_s(src, 8)), 16);
    src += 16;
    dst += 32;
  }
  const end = src + (<usize>(count & 7) << 1);
  while (src < end) {
    store<f32>(dst, movedAt(src) * HALF_SCALE);
    src += 2;
    dst += 4;
  }
}

/**
 * out (n, rows) = x (n, cols) · wᵀ + bias for output rows [r0, r1), w in stored halves. With
 * `xScaled`, n is 1 and x is scaleForF16's x · 2^102. `scratch` is this thread's: 16·cols bytes
 * for four widened rows, then matmulF32's block state.
 */
export function matmulF16(out: usize, x: usize, w: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize, xScaled: i32): void {
  const halfRowBytes = <usize>cols << 1;
  if (xScaled) {
    for (let r = r0; r < r1; r++) {
      store<f32>(out + (<usize>r << 2), dotF16(x, w + <usize>r * halfRowBytes, cols) + biasAt(bias, r));
    }
    return;
  }
  const wide = scratch;
  const state = scratch + (<usize>cols << 4);
  let r = r0;
  if (n > SMALL_N) {
    for (; r + 4 <= r1; r += 4) {
      widenHalves(wide, w + <usize>r * halfRowBytes, cols << 2);
      block4ForAllX(out + (<usize>r << 2), x, wide, bias, r, n, rows, cols, state);
    }
  }
  for (; r < r1; r++) {
    widenHalves(wide, w + <usize>r * halfRowBytes, cols);
    rowForAllX(out + (<usize>r << 2), x, wide, biasAt(bias, r), n, rows, cols);
  }
}
