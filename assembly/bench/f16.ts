// Benchmark kernels, not part of the engine (see bench/f16.ts): is a matvec over F16 weights,
// widened in registers, faster than the engine's over weights widened to f32 at load time?
// The F16 one sums in the engine's canonical order (four f32x4 chains, as dotF32 in ../matmul.ts),
// so on the same values both give the same bits. cols must be a multiple of 16.

import { dotF32 } from "../matmul";
import { hsum, madd } from "../math";

/** The engine's one-row matvec (dotF32), bias-free. */
export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rows: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = 0; r < rows; r++) store<f32>(out + (<usize>r << 2), dotF32(x, w + <usize>r * rowBytes, cols));
}

/**
 * Four halves, sign-extended to i32 by the load: shifted so exponent and mantissa sit where
 * f32's do, the smeared sign bits cleared, then times 2^112, which fixes the exponent bias and
 * is exact for subnormals too (not for inf or NaN, which weights never are).
 */
@inline
function widen(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shl(h, 13), i32x4.splat(0x8fffffff)), f32x4.splat(<f32>5.192296858534828e33));
}

export function matvecF16(out: usize, x: usize, w: usize, cols: i32, rows: i32): void {
  for (let r = 0; r < rows; r++) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let xp = x;
    const end = w + (<usize>cols << 1);
    while (w < end) {
      a0 = madd(v128.load(xp), widen(v128.load16x4_s(w)), a0);
      a1 = madd(v128.load(xp, 16), widen(v128.load16x4_s(w, 8)), a1);
      a2 = madd(v128.load(xp, 32), widen(v128.load16x4_s(w, 16)), a2);
      a3 = madd(v128.load(xp, 48), widen(v128.load16x4_s(w, 24)), a3);
      xp += 64;
      w += 32;
    }
    store<f32>(out + (<usize>r << 2), hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))));
  }
}
