// LayerNorm and RMSNorm over rows [i0, i1). Mean and variance (and RMSNorm's mean square)
// accumulate in f64 lanes: residual streams have a few very large features, and f32 sums would
// lose the small ones.

@inline
function sumRow(x: usize, d: i32): f64 {
  let a = f64x2.splat(0), b = f64x2.splat(0);
  const end4 = x + (<usize>(d & ~3) << 2);
  let p = x;
  while (p < end4) {
    const v = v128.load(p);
    a = f64x2.add(a, f64x2.promote_low_f32x4(v));
    b = f64x2.add(b, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)));
    p += 16;
  }
  const s = f64x2.add(a, b);
  let sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  const end = x + (<usize>d << 2);
  while (p < end) {
    sum += <f64>load<f32>(p);
    p += 4;
  }
  return sum;
}

@inline
function sumSquaredDiff(x: usize, d: i32, mean: f64): f64 {
  let a = f64x2.splat(0), b = f64x2.splat(0);
  const m = f64x2.splat(mean);
  const end4 = x + (<usize>(d & ~3) << 2);
  let p = x;
  while (p < end4) {
    const v = v128.load(p);
    const lo = f64x2.sub(f64x2.promote_low_f32x4(v), m);
    const hi = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)), m);
    a = f64x2.add(a, f64x2.mul(lo, lo));
    b = f64x2.add(b, f64x2.mul(hi, hi));
    p += 16;
  }
  const s = f64x2.add(a, b);
  let sum = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  const end = x + (<usize>d << 2);
  while (p < end) {
    const diff = <f64>load<f32>(p) - mean;
    sum += diff * diff;
    p += 4;
  }
  return sum;
}

export function layerNorm(out: usize, x: usize, weight: usize, bias: usize, d: i32, eps: f32, i0: i32, i1: i32): void {
  const rowBytes = <usize>d << 2;
  const vecBytes = <usize>(d & ~3) << 2;
  for (let i = i0; i < i1; i++) {
    const xr = x + <usize>i * rowBytes;
    const or = out + <usize>i * rowBytes;
    const mean = sumRow(xr, d) / <f64>d;
    const variance = sumSquaredDiff(xr, d, mean) / <f64>d;
    const invStd = <f32>(1 / Math.sqrt(variance + <f64>eps));
    const m = f32x4.splat(<f32>mean), s = f32x4.splat(invStd);
    let c: usize = 0;
    for (; c < vecBytes; c += 16) {
      const v = f32x4.mul(f32x4.sub(v128.load(xr + c), m), s);
      v128.store(or + c, f32x4.add(f32x4.mul(v, v128.load(weight + c)), v128.load(bias + c)));
    }
    for (; c < rowBytes; c += 4) {
      store<f32>(or + c, (load<f32>(xr + c) - <f32>mean) * invStd * load<f32>(weight + c) + load<f32>(bias + c));
    }
  }
}

/**
 * Llama's RMSNorm: out = weight · (x · (1 / sqrt(mean(x²) + eps))), the products in f32 in HF's
 * order. out may be x: each element is read before it is written.
 */
export function rmsNorm(out: usize, x: usize, weight: usize, d: i32, eps: f32, i0: i32, i1: i32): void {
  const rowBytes = <usize>d << 2;
  const vecBytes = <usize>(d & ~3) << 2;
  for (let i = i0; i < i1; i++) {
    const xr = x + <usize>i * rowBytes;
    const or = out + <usize>i * rowBytes;
    // Σ(x − 0)² is Σx² exactly: the subtraction of 0 rounds nothing.
    const invRms = <f32>(1 / Math.sqrt(sumSquaredDiff(xr, d, 0) / <f64>d + <f64>eps));
    const s = f32x4.splat(invRms);
    let c: usize = 0;
    for (; c < vecBytes; c += 16) v128.store(or + c, f32x4.mul(v128.load(weight + c), f32x4.mul(v128.load(xr + c), s)));
    for (; c < rowBytes; c += 4) store<f32>(or + c, load<f32>(weight + c) * (load<f32>(xr + c) * invRms));
  }
}
