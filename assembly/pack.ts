// Load-time conversion of f32 weights into q8 blocks: the same bits as the reference quantizer
// (src/kernels/quantize.ts), about twenty times faster. Per block of 32:
//   scale = amax / 127 rounded to f32 (one f32 division: the same rounding as JavaScript's f64
//     division then Math.fround, since 53 ≥ 2·24 + 2);
//   q = clamp(floor(w / scale + 0.5)) with the division in f64 as JavaScript does it. floor(v + 0.5)
//     is Math.round(v) here: the sum could only round across an integer for a v within 2^-53 of
//     a half-integer, and a quotient of two f32s is either exactly one or at least ~2^-25 away;
//   NaN goes to 0, as an Int8Array stores it.
// Checkpoint rows arrive two ways: as rows (embeddings: blocks are contiguous) or as columns
// (Conv1D's (in, out) layout: a block's 32 weights are `rows` floats apart, and four consecutive
// rows' blocks sit side by side, one vector of four per column).
const QB: i32 = 32;

/** f64 lanes of v / s rounded half up and clamped to ±127, as i32 (NaN → 0). */
@inline
function roundQuotient(v: v128, s: v128): v128 {
  const half = f64x2.splat(0.5), lim = f64x2.splat(127);
  const q = f64x2.floor(f64x2.add(f64x2.div(v, s), half));
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.pmin(f64x2.pmax(q, f64x2.neg(lim)), lim));
}

/** Four f32 lanes of x / scale, quantized (scale lanes nonzero or NaN). */
@inline
function quantize4(x: v128, scale: v128): v128 {
  const lo = roundQuotient(f64x2.promote_low_f32x4(x), f64x2.promote_low_f32x4(scale));
  const hi = roundQuotient(
    f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3)),
    f64x2.promote_low_f32x4(v128.shuffle<f32>(scale, scale, 2, 3, 2, 3)),
  );
  return v128.shuffle<i32>(lo, hi, 0, 1, 4, 5);
}

/** max(|a|, |b|) lanewise, NaN winning (as Math.max). */
@inline
function absMax(a: v128, b: v128): v128 {
  return f32x4.max(a, f32x4.abs(b));
}

/** Each lane's scale: amax / 127 in f32, and a mask of the lanes where it is 0 (all q = 0). */
@inline
function scaleOf(amax: v128): v128 {
  return f32x4.div(amax, f32x4.splat(127));
}

@inline
function zeroMask(scale: v128): v128 {
  return f32x4.eq(scale, f32x4.splat(0));
}

/**
 * `blocks` contiguous blocks of 32 f32 at src → 32 int8 each at q, one f32 scale each at scales.
 */
export function quantizeRowsQ8(q: usize, scales: usize, src: usize, blocks: i32): void {
  for (let b = 0; b < blocks; b++) {
    let m = f32x4.splat(0);
    for (let o: usize = 0; o < 128; o += 16) m = absMax(m, v128.load(src + o));
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
    m = f32x4.max(m, v128.shuffle<f32>(m, m, 1, 0, 3, 2));
    const scale = scaleOf(m); // the block's scale in every lane
    const zero = zeroMask(scale);
    store<f32>(scales, f32x4.extract_lane(scale, 0));
    for (let o: usize = 0; o < 128; o += 64) {
      const a = v128.andnot(quantize4(v128.load(src + o), scale), zero);
      const c = v128.andnot(quantize4(v128.load(src + o, 16), scale), zero);
      const d = v128.andnot(quantize4(v128.load(src + o, 32), scale), zero);
      const e = v128.andnot(quantize4(v128.load(src + o, 48), scale), zero);
      v128.store(q + (o >> 2), i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, c), i16x8.narrow_i32x4_s(d, e)));
    }
    src += 128;
    q += QB;
    scales += 4;
  }
}

/**
 * Columns [firstCol, firstCol + 32) of a (rows, cols) q8 matrix from src (32, rows) row-major,
 * a transposed slice: row r's block is src[j·rows + r] for j = 0..31.
 */
export function quantizeColumnsQ8(q: usize, scales: usize, src: usize, rows: i32, cols: i32, firstCol: i32): void {
  const stride = <usize>rows << 2;
  const rowBytes = <usize>cols;
  const scaleStride = <usize>(cols / QB) << 2;
  let sc = scales + (<usize>(firstCol / QB) << 2);
  let qr = q + <usize>firstCol;
  let s = src;
  let r = 0;
  // Four rows at a time: lane i is row r + i, and column j of all four is one load.
  for (; r + 4 <= rows; r += 4) {
    let m = f32x4.splat(0);
    for (let j = 0; j < QB; j++) m = absMax(m, v128.load(s + <usize>j * stride));
    const scale = scaleOf(m);
    const zero = zeroMask(scale);
    store<f32>(sc, f32x4.extract_lane(scale, 0));
    store<f32>(sc + scaleStride, f32x4.extract_lane(scale, 1));
    store<f32>(sc + 2 * scaleStride, f32x4.extract_lane(scale, 2));
    store<f32>(sc + 3 * scaleStride, f32x4.extract_lane(scale, 3));
    for (let j = 0; j < QB; j++) {
      const v = v128.andnot(quantize4(v128.load(s + <usize>j * stride), scale), zero);
      const o = qr + <usize>j;
      v128.store8_lane(o, v, 0);
      v128.store8_lane(o + rowBytes, v, 4);
      v128.store8_lane(o + 2 * rowBytes, v, 8);
      v128.store8_lane(o + 3 * rowBytes, v, 12);
    }
    s += 16;
    sc += 4 * scaleStride;
    qr += 4 * rowBytes;
  }
  for (; r < rows; r++) {
    let m = f32x4.splat(0);
    for (let j = 0; j < QB; j++) m = absMax(m, f32x4.splat(load<f32>(s + <usize>j * stride)));
    const scale = scaleOf(m);
    const zero = zeroMask(scale);
    store<f32>(sc, f32x4.extract_lane(scale, 0));
    for (let j = 0; j < QB; j++) {
      const v = v128.andnot(quantize4(f32x4.splat(load<f32>(s + <usize>j * stride)), scale), zero);
      store<i8>(qr + <usize>j, <i8>i32x4.extract_lane(v, 0));
    }
    s += 4;
    sc += scaleStride;
    qr += rowBytes;
  }
}
