// Benchmark kernels, not part of the engine (see bench/f16.ts): is a matvec over F16 weights,
// widened in registers, faster than the engine's over weights widened to f32 at load time?
// Both sum in the engine's canonical order (four f32x4 chains, dotF32 in ../matmul.ts), so on
// the same values they give the same bits. cols must be a multiple of 16.

@inline
function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline
function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rows: i32): void {
  for (let r = 0; r < rows; r++) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let xp = x;
    const end = w + (<usize>cols << 2);
    while (w < end) {
      a0 = madd(v128.load(xp), v128.load(w), a0);
      a1 = madd(v128.load(xp, 16), v128.load(w, 16), a1);
      a2 = madd(v128.load(xp, 32), v128.load(w, 32), a2);
      a3 = madd(v128.load(xp, 48), v128.load(w, 48), a3);
      xp += 64;
      w += 64;
    }
    store<f32>(out + (<usize>r << 2), hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))));
  }
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
