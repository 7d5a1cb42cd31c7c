// Load-time conversion of f32 checkpoint values into a matrix's storage, storing the same bits
// as the TypeScript reference (src/kernels/write-matrix.ts): GPT-2-124M loads as q8 in 0.52 s
// instead of 2.1 s. q8, per block of 32:
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

// F16 storage (src/kernels/f16.ts): the IEEE half of w · 2^10, from w rounded to half precision
// as torch's .half() does. Above 2^-14 (a normal half) that is the half of w · 2^10 (the same
// mantissa, rounded to nearest even; w · 2^10 is exact in f32). Below it w becomes a subnormal
// half, a multiple of 2^-24 (n = round-to-even(|w| · 2^24), 0..1024), stored as n · 2^-14:
// normal again, with no rounding. A stored exponent of 31 (|w| > 63.97, inf, NaN) cannot be
// stored; the kernels then return the element's index, and the host names the weight.
const MIN_NORMAL_HALF_BITS: i32 = 0x38800000; // 2^-14 as f32 bits
const TOO_LARGE: i32 = 0x7c00;

/** |w|'s stored half for four weights, in the low bits of each lane: ≥ TOO_LARGE where it does not fit. */
@inline
function halfMagnitudes(w: v128): v128 {
  const abs = v128.and(w, i32x4.splat(0x7fffffff));
  // |w| ≥ 2^-14: the half of |w| · 2^10, rounded to nearest even on the dropped 13 bits (a carry
  // runs on into the exponent).
  const y = f32x4.mul(abs, f32x4.splat(1024));
  const mant = v128.and(y, i32x4.splat(0x7fffff));
  const rounded = i32x4.add(i32x4.add(mant, i32x4.splat(0xfff)), v128.and(i32x4.shr_u(mant, 13), i32x4.splat(1)));
  const normal = i32x4.add(i32x4.shl(i32x4.sub(i32x4.shr_u(y, 23), i32x4.splat(112)), 10), i32x4.shr_u(rounded, 13));
  // |w| < 2^-14: n · 2^-14 as an f32, whose half needs no rounding; n = 0 is 0.
  const v = f32x4.mul(f32x4.nearest(f32x4.mul(abs, f32x4.splat(16777216))), f32x4.splat(6.103515625e-5));
  const sub = v128.andnot(
    i32x4.add(i32x4.shl(i32x4.sub(i32x4.shr_u(v, 23), i32x4.splat(112)), 10), i32x4.shr_u(v128.and(v, i32x4.splat(0x7fffff)), 13)),
    f32x4.eq(v, f32x4.splat(0)),
  );
  return v128.bitselect(normal, sub, i32x4.ge_s(abs, i32x4.splat(MIN_NORMAL_HALF_BITS)));
}

/** The stored halves themselves: w's sign on top of its magnitude's half. */
@inline
function withSign(h: v128, w: v128): v128 {
  return v128.or(h, v128.and(i32x4.shr_u(w, 16), i32x4.splat(0x8000)));
}

/** Lanes whose half does not fit (exponent 31 or beyond). */
@inline
function tooLarge(h: v128): v128 {
  return i32x4.ge_s(h, i32x4.splat(TOO_LARGE));
}

/** Index (0..3) of the first lane of h that does not fit. */
@inline
function firstTooLarge(h: v128): i32 {
  return ctz(i32x4.bitmask(tooLarge(h)));
}

/**
 * dst[0..count) = the stored halves of src[0..count). Returns -1, or the index of the first
 * weight that does not fit (dst is then partly written).
 */
export function halvesOfRows(dst: usize, src: usize, count: i32): i32 {
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    const w0 = v128.load(src + (<usize>i << 2)), w1 = v128.load(src + (<usize>i << 2), 16);
    const a = halfMagnitudes(w0), b = halfMagnitudes(w1);
    if (v128.any_true(v128.or(tooLarge(a), tooLarge(b)))) return i + (v128.any_true(tooLarge(a)) ? firstTooLarge(a) : 4 + firstTooLarge(b));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(withSign(a, w0), withSign(b, w1)));
  }
  for (; i < count; i++) {
    const w = v128.load32_splat(src + (<usize>i << 2));
    const h = halfMagnitudes(w);
    if (v128.any_true(tooLarge(h))) return i;
    store<u16>(dst + (<usize>i << 1), <u16>i32x4.extract_lane(withSign(h, w), 0));
  }
  return -1;
}

/**
 * Columns [firstCol, firstCol + count) of a (rows, cols) matrix of stored halves from src
 * (count, rows) row-major, a transposed slice. Returns -1, or the src index of the first weight
 * that does not fit.
 */
export function halvesOfColumns(dst: usize, src: usize, rows: i32, cols: i32, firstCol: i32, count: i32): i32 {
  const rowBytes = <usize>cols << 1;
  for (let j = 0; j < count; j++) {
    const s = src + ((<usize>j * <usize>rows) << 2);
    let d = dst + ((<usize>firstCol + <usize>j) << 1);
    let r = 0;
    // Four rows at a time: one load, four 2-byte stores a row apart.
    for (; r + 4 <= rows; r += 4) {
      const w = v128.load(s + (<usize>r << 2));
      const m = halfMagnitudes(w);
      if (v128.any_true(tooLarge(m))) return j * rows + r + firstTooLarge(m);
      const h = withSign(m, w);
      v128.store16_lane(d, h, 0);
      v128.store16_lane(d + rowBytes, h, 2);
      v128.store16_lane(d + 2 * rowBytes, h, 4);
      v128.store16_lane(d + 3 * rowBytes, h, 6);
      d += 4 * rowBytes;
    }
    for (; r < rows; r++) {
      const w = v128.load32_splat(s + (<usize>r << 2));
      const h = halfMagnitudes(w);
      if (v128.any_true(tooLarge(h))) return j * rows + r;
      store<u16>(d, <u16>i32x4.extract_lane(withSign(h, w), 0));
      d += rowBytes;
    }
  }
  return -1;
}

/** Columns [firstCol, firstCol + count) of a (rows, cols) f32 matrix from src (count, rows) row-major. */
export function transposeColumnsF32(dst: usize, src: usize, rows: i32, cols: i32, firstCol: i32, count: i32): void {
  const rowBytes = <usize>cols << 2;
  let j = 0;
  // 4×4 tiles: four columns of four rows, transposed in registers.
  for (; j + 4 <= count; j += 4) {
    const s0 = src + ((<usize>j * <usize>rows) << 2);
    const s1 = s0 + (<usize>rows << 2), s2 = s1 + (<usize>rows << 2), s3 = s2 + (<usize>rows << 2);
    let d = dst + ((<usize>firstCol + <usize>j) << 2);
    let r = 0;
    for (; r + 4 <= rows; r += 4) {
      const o = <usize>r << 2;
      const a = v128.load(s0 + o), b = v128.load(s1 + o), c = v128.load(s2 + o), e = v128.load(s3 + o);
      const ab0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5), ab1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
      const ce0 = v128.shuffle<f32>(c, e, 0, 4, 1, 5), ce1 = v128.shuffle<f32>(c, e, 2, 6, 3, 7);
      v128.store(d, v128.shuffle<f32>(ab0, ce0, 0, 1, 4, 5));
      v128.store(d + rowBytes, v128.shuffle<f32>(ab0, ce0, 2, 3, 6, 7));
      v128.store(d + 2 * rowBytes, v128.shuffle<f32>(ab1, ce1, 0, 1, 4, 5));
      v128.store(d + 3 * rowBytes, v128.shuffle<f32>(ab1, ce1, 2, 3, 6, 7));
      d += 4 * rowBytes;
    }
    for (; r < rows; r++) {
      const o = <usize>r << 2;
      store<f32>(d, load<f32>(s0 + o));
      store<f32>(d, load<f32>(s1 + o), 4);
      store<f32>(d, load<f32>(s2 + o), 8);
      store<f32>(d, load<f32>(s3 + o), 12);
      d += rowBytes;
    }
  }
  for (; j < count; j++) {
    const s = src + ((<usize>j * <usize>rows) << 2);
    let d = dst + ((<usize>firstCol + <usize>j) << 2);
    for (let r = 0; r < rows; r++) {
      store<f32>(d, load<f32>(s + (<usize>r << 2)));
      d += rowBytes;
    }
  }
}
