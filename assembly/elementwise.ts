// Elementwise kernels over [i0, i1) so threads can split long vectors.
import { exp4, expPoly, pow2Bits } from "./math";

// gelu_new(v) = 0.5·v·(1 + tanh(u)) = v / (1 + exp(-2u)), u = √(2/π)·(v + 0.044715·v³).
// The sigmoid form has no cancellation for negative v, where 1 + tanh(u) → 0. Its error is
// dominated by the error of y = -2u itself (relative error of the result ≈ |Δy|), and |y|
// reaches ~17 at v = -5, so y and its range reduction are computed in f64 and only the
// reduced argument |r| ≤ ln2/2 goes through the f32 polynomial: ≈ 2e-7 relative overall.
// y is clamped to [-87, 89]: at 89, k = 128 makes 2^k = +inf and the result an exact ±0.
const K1: f64 = -2 * 0.7978845608028654;
const K2: f64 = -2 * 0.7978845608028654 * 0.044715;
const LOG2E: f64 = 1.4426950408889634;
const LN2: f64 = 0.6931471805599453;

/** 1.5·2^52, the f64 twin of ROUND_F32: k ends up in the low 32 bits of each lane. */
const ROUND_F64: f64 = 6755399441055744.0;

@inline
function gelu4(v: v128): v128 {
  const lo = f64x2.promote_low_f32x4(v);
  const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
  let y = f64x2.mul(lo, f64x2.add(f64x2.splat(K1), f64x2.mul(f64x2.splat(K2), f64x2.mul(lo, lo))));
  let z = f64x2.mul(hi, f64x2.add(f64x2.splat(K1), f64x2.mul(f64x2.splat(K2), f64x2.mul(hi, hi))));
  y = f64x2.pmin(f64x2.pmax(y, f64x2.splat(-87)), f64x2.splat(89));
  z = f64x2.pmin(f64x2.pmax(z, f64x2.splat(-87)), f64x2.splat(89));
  const ty = f64x2.add(f64x2.mul(y, f64x2.splat(LOG2E)), f64x2.splat(ROUND_F64));
  const tz = f64x2.add(f64x2.mul(z, f64x2.splat(LOG2E)), f64x2.splat(ROUND_F64));
  const ry = f32x4.demote_f64x2_zero(f64x2.sub(y, f64x2.mul(f64x2.sub(ty, f64x2.splat(ROUND_F64)), f64x2.splat(LN2))));
  const rz = f32x4.demote_f64x2_zero(f64x2.sub(z, f64x2.mul(f64x2.sub(tz, f64x2.splat(ROUND_F64)), f64x2.splat(LN2))));
  const r = v128.shuffle<f32>(ry, rz, 0, 1, 4, 5);
  const kBits = v128.shuffle<i32>(ty, tz, 0, 2, 4, 6);
  const e = f32x4.mul(expPoly(r), pow2Bits(kBits));
  return f32x4.div(v, f32x4.add(f32x4.splat(1), e));
}

export function gelu(x: usize, i0: i32, i1: i32): void {
  let p = x + (<usize>i0 << 2);
  const end = x + (<usize>i1 << 2);
  const end4 = p + (<usize>((i1 - i0) & ~3) << 2);
  while (p < end4) {
    v128.store(p, gelu4(v128.load(p)));
    p += 16;
  }
  while (p < end) {
    store<f32>(p, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(p))), 0));
    p += 4;
  }
}

export function addInPlace(x: usize, y: usize, i0: i32, i1: i32): void {
  const off = <usize>i0 << 2;
  let p = x + off, q = y + off;
  const end = x + (<usize>i1 << 2);
  const end16 = p + (<usize>((i1 - i0) & ~15) << 2);
  while (p < end16) {
    v128.store(p, f32x4.add(v128.load(p), v128.load(q)));
    v128.store(p, f32x4.add(v128.load(p, 16), v128.load(q, 16)), 16);
    v128.store(p, f32x4.add(v128.load(p, 32), v128.load(q, 32)), 32);
    v128.store(p, f32x4.add(v128.load(p, 48), v128.load(q, 48)), 48);
    p += 64;
    q += 64;
  }
  while (p < end) {
    store<f32>(p, load<f32>(p) + load<f32>(q));
    p += 4;
    q += 4;
  }
}

/**
 * silu(g) = g / (1 + exp(−g)). exp4 clamps −g to [-87, 88]: past those the quotient is g or a
 * value below 1e-36 in magnitude, as good as the true one at f32 tolerance.
 */
@inline
function silu4(g: v128): v128 {
  return f32x4.div(g, f32x4.add(f32x4.splat(1), exp4(f32x4.neg(g))));
}

/**
 * SwiGLU's gate over rows [i0, i1): out row i = silu(gate) · up, gateUp row i = [gate | up], d
 * each. Called on rows in order, out may be gateUp's first n·d floats: out row i lands on
 * gateUp's row ⌊i / 2⌋, already read for i ≥ 1, and row 0 on its own gate, each vector read
 * before it is written.
 */
export function siluMul(out: usize, gateUp: usize, d: i32, i0: i32, i1: i32): void {
  const rowBytes = <usize>d << 2;
  const vecBytes = <usize>(d & ~3) << 2;
  for (let i = i0; i < i1; i++) {
    const g = gateUp + <usize>i * (rowBytes << 1);
    const u = g + rowBytes;
    const o = out + <usize>i * rowBytes;
    let c: usize = 0;
    for (; c < vecBytes; c += 16) v128.store(o + c, f32x4.mul(silu4(v128.load(g + c)), v128.load(u + c)));
    for (; c < rowBytes; c += 4) store<f32>(o + c, f32x4.extract_lane(silu4(f32x4.splat(load<f32>(g + c))), 0) * load<f32>(u + c));
  }
}
