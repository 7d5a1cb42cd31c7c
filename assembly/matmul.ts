// f32 matmul: out (n, rows) = x (n, cols) · wᵀ + bias, for output rows [r0, r1) only, so threads
// can split the output features. Pointers are byte offsets into the shared memory.
//
// Every output element is summed in one canonical order, whichever kernel computes it, so a row
// of x gets the same bits alone (n = 1), at any place in a batch of any size, on any thread split:
//   four f32x4 accumulators a0..a3, where am takes the vectors at float offsets 16j + 4m, in
//   order; a0 goes on over the (cols & 12) / 4 vectors after the last full group of 16 floats;
//   s = hsum((a0 + a1) + (a2 + a3)); s += x[c]·w[c] for the cols & 3 last columns, in order;
//   out = s + bias.
// That is the order of the one-row matvec, which keeps the four chains in flight over one
// sequential weight stream: chains spread over a row (four quarter streams) get much less of
// the DRAM bandwidth, and even chains 256 bytes apart get less. The kernels for more rows follow it: up to
// SMALL_N rows, two x rows per weight row (still one weight stream); beyond, 2×4 register blocks
// in four passes, one per chain, over column panels that stay in L1.
import { hsum, madd, transposeSum4 } from "./math";

/** Dot product of one x row and one w row in the canonical order, bias excluded. */
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
  // Plain multiply and add even in the relaxed build, where the block kernel's vector tail
  // must round the same way (relaxed_madd may or may not fuse).
  while (w < end) {
    s += load<f32>(x) * load<f32>(w);
    x += 4;
    w += 4;
  }
  return s;
}

@inline
export function biasAt(bias: usize, r: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>r << 2));
}

function matvecF32(out: usize, x: usize, w: usize, bias: usize, cols: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let r = r0; r < r1; r++) {
    store<f32>(out + (<usize>r << 2), dotF32(x, w + <usize>r * rowBytes, cols) + biasAt(bias, r));
  }
}

/**
 * Columns per panel: the four w rows' share (16 KB) stays in L1 while every x pair passes over
 * it, and an x pair's share stays there through its four passes.
 */
const PANEL_BYTES: usize = 1024 << 2;
/** One x pair's running sums between panels: 4 passes × 8 pairs × f32x4. */
const STATE_BYTES: usize = 512;
/**
 * Up to this many x rows, dot2x1 (one weight stream) beats the 2×4 blocks (four) from DRAM;
 * from 5 rows on the blocks win.
 */
export const SMALL_N = 4;

/**
 * Columns [k0, k1) of two x rows against four w rows (8 row pairs, 8 accumulators: the most
 * x64's 16 vector registers hold without spills). Pass m sums the canonical accumulator am of
 * all eight pairs, reading one vector in four from lines that stay in L1 between passes; the
 * sums go on from `state` (unless `first`) and back to it. The last panel's pass 0 goes on over
 * the vectors after the last full 16-float group. `xRows` is 1 for an odd last x row: each
 * pair's sums are its own, so that changes no bits.
 */
@inline
function panel2x4(x: usize, w: usize, rowBytes: usize, k0: usize, k1: usize, first: bool, last: bool, vecBytes: usize, xRows: i32, state: usize): void {
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  const x1 = x + rowBytes;
  for (let m: usize = 0; m < 4; m++) {
    const s = state + (m << 7);
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
    if (!first) {
      a00 = v128.load(s); a01 = v128.load(s, 16); a02 = v128.load(s, 32); a03 = v128.load(s, 48);
      a10 = v128.load(s, 64); a11 = v128.load(s, 80); a12 = v128.load(s, 96); a13 = v128.load(s, 112);
    }
    let c = k0 + (m << 4);
    let end = k1;
    let step: usize = 64;
    // Pass 0 of the last panel runs twice: its groups of 16, then the vectors after them.
    for (let round = m == 0 && last ? 2 : 1; round > 0; round--) {
      if (xRows == 2) {
        for (; c < end; c += step) {
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
        for (; c < end; c += step) {
          const xa = v128.load(x + c);
          a00 = madd(xa, v128.load(w + c), a00);
          a01 = madd(xa, v128.load(w1 + c), a01);
          a02 = madd(xa, v128.load(w2 + c), a02);
          a03 = madd(xa, v128.load(w3 + c), a03);
        }
      }
      c = k1;
      end = vecBytes;
      step = 16;
    }
    v128.store(s, a00); v128.store(s, a01, 16); v128.store(s, a02, 32); v128.store(s, a03, 48);
    v128.store(s, a10, 64); v128.store(s, a11, 80); v128.store(s, a12, 96); v128.store(s, a13, 112);
  }
}

/** [s(w0), s(w1), s(w2), s(w3)] for one x row of a block: (a0 + a1) + (a2 + a3), am at s + 128m. */
@inline
function sumPasses(s: usize): v128 {
  const t0 = f32x4.add(f32x4.add(v128.load(s), v128.load(s, 128)), f32x4.add(v128.load(s, 256), v128.load(s, 384)));
  const t1 = f32x4.add(f32x4.add(v128.load(s, 16), v128.load(s, 144)), f32x4.add(v128.load(s, 272), v128.load(s, 400)));
  const t2 = f32x4.add(f32x4.add(v128.load(s, 32), v128.load(s, 160)), f32x4.add(v128.load(s, 288), v128.load(s, 416)));
  const t3 = f32x4.add(f32x4.add(v128.load(s, 48), v128.load(s, 176)), f32x4.add(v128.load(s, 304), v128.load(s, 432)));
  return transposeSum4(t0, t1, t2, t3);
}

/** Outputs of a 2x4 block from its finished sums: the scalar columns (cols % 4), then the bias. */
@inline
function finish2x4(out: usize, x: usize, w: usize, rowBytes: usize, vecBytes: usize, bias4: v128, outRowBytes: usize, xRows: i32, state: usize): void {
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  const x1 = x + rowBytes;
  let s0 = sumPasses(state), s1 = sumPasses(state + 64);
  // Gathered into vectors so the stores stay vector stores; multiply and add as dotF32 does.
  for (let c = vecBytes; c < rowBytes; c += 4) {
    const wv = f32x4(0, 0, 0, 0);
    const t = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(wv,
      0, load<f32>(w + c)), 1, load<f32>(w1 + c)), 2, load<f32>(w2 + c)), 3, load<f32>(w3 + c));
    s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(x + c)), t));
    if (xRows == 2) s1 = f32x4.add(s1, f32x4.mul(f32x4.splat(load<f32>(x1 + c)), t));
  }
  v128.store(out, f32x4.add(s0, bias4));
  if (xRows == 2) v128.store(out + outRowBytes, f32x4.add(s1, bias4));
}

/**
 * out[0] and out[rows] for two x rows against one w row, each in the canonical order: dotF32
 * twice over, sharing the w loads. One weight stream, so it streams from DRAM like the matvec.
 * TurboFan hoists all twelve loads of an iteration to its top and then spills three of the eight
 * sums to the stack every iteration; a store into out[0] (overwritten at the end) after each
 * vector fences the next loads behind it, which keeps the sums in registers; two stores per
 * iteration instead of four were not enough.
 */
function dot2x1(out: usize, x: usize, w: usize, cols: i32, outRowBytes: usize, b: f32): void {
  const x1 = x + (<usize>cols << 2);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const end16 = <usize>(cols & ~15) << 2;
  let c: usize = 0;
  for (; c < end16; c += 64) {
    let wv = v128.load(w + c);
    a0 = madd(v128.load(x + c), wv, a0);
    b0 = madd(v128.load(x1 + c), wv, b0);
    v128.store32_lane(out, a0, 0);
    wv = v128.load(w + c, 16);
    a1 = madd(v128.load(x + c, 16), wv, a1);
    b1 = madd(v128.load(x1 + c, 16), wv, b1);
    v128.store32_lane(out, a1, 0);
    wv = v128.load(w + c, 32);
    a2 = madd(v128.load(x + c, 32), wv, a2);
    b2 = madd(v128.load(x1 + c, 32), wv, b2);
    v128.store32_lane(out, a2, 0);
    wv = v128.load(w + c, 48);
    a3 = madd(v128.load(x + c, 48), wv, a3);
    b3 = madd(v128.load(x1 + c, 48), wv, b3);
    v128.store32_lane(out, a3, 0);
  }
  const vecBytes = <usize>(cols & ~3) << 2;
  for (; c < vecBytes; c += 16) {
    const wv = v128.load(w + c);
    a0 = madd(v128.load(x + c), wv, a0);
    b0 = madd(v128.load(x1 + c), wv, b0);
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  let t = hsum(f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3)));
  const rowBytes = <usize>cols << 2;
  for (; c < rowBytes; c += 4) {
    const wc = load<f32>(w + c);
    s += load<f32>(x + c) * wc;
    t += load<f32>(x1 + c) * wc;
  }
  store<f32>(out, s + b);
  store<f32>(out + outRowBytes, t + b);
}

/** Output column r for every x row: dot2x1 over pairs of rows, dotF32 for an odd last one. */
export function rowForAllX(out: usize, x: usize, wr: usize, b: f32, n: i32, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  const outRowBytes = <usize>rows << 2;
  let i = 0;
  for (; i + 2 <= n; i += 2) dot2x1(out + <usize>i * outRowBytes, x + <usize>i * rowBytes, wr, cols, outRowBytes, b);
  if (i < n) store<f32>(out + <usize>i * outRowBytes, dotF32(x + <usize>i * rowBytes, wr, cols) + b);
}

/**
 * Output columns [r, r + 4) for every x row (`out` points at column r), from four w rows at
 * `wr` (`cols` floats apart), plus bias[r, r + 4) unless `bias` is 0:
 * 2x4 blocks over column panels. `state` takes STATE_BYTES per pair of x rows when there is
 * more than one panel (one slot otherwise), where a block's sums wait between panels while the
 * w panel stays in L1 for every pair.
 */
export function block4ForAllX(out: usize, x: usize, wr: usize, bias: usize, r: i32, n: i32, rows: i32, cols: i32, state: usize): void {
  const bias4 = bias == 0 ? f32x4.splat(0) : v128.load(bias + (<usize>r << 2));
  const rowBytes = <usize>cols << 2;
  const outRowBytes = <usize>rows << 2;
  const end16: usize = <usize>(cols & ~15) << 2;
  const vecBytes: usize = <usize>(cols & ~3) << 2;
  const multi = end16 > PANEL_BYTES;
  const stride = multi ? STATE_BYTES : 0;
  for (let k0: usize = 0; ; ) {
    const k1 = min(k0 + PANEL_BYTES, end16);
    const last = k1 == end16;
    let st = state;
    for (let i = 0; i < n; i += 2, st += stride) {
      const xi = x + <usize>i * rowBytes;
      const xRows = min(2, n - i);
      panel2x4(xi, wr, rowBytes, k0, k1, k0 == 0, last, vecBytes, xRows, st);
      if (!multi) finish2x4(out + <usize>i * outRowBytes, xi, wr, rowBytes, vecBytes, bias4, outRowBytes, xRows, st);
    }
    if (last) break;
    k0 = k1;
  }
  if (multi) {
    let st = state;
    for (let i = 0; i < n; i += 2, st += stride) {
      finish2x4(out + <usize>i * outRowBytes, x + <usize>i * rowBytes, wr, rowBytes, vecBytes, bias4, outRowBytes, min(2, n - i), st);
    }
  }
}

/**
 * `scratch` is this thread's: STATE_BYTES per pair of x rows (see block4ForAllX). Up to SMALL_N
 * x rows, one weight row at a time (one weight stream); beyond, 2x4 blocks.
 */
export function matmulF32(out: usize, x: usize, w: usize, bias: usize, n: i32, rows: i32, cols: i32, r0: i32, r1: i32, scratch: usize): void {
  if (n == 1) {
    matvecF32(out, x, w, bias, cols, r0, r1);
    return;
  }
  const rowBytes = <usize>cols << 2;
  let r = r0;
  if (n > SMALL_N) {
    for (; r + 4 <= r1; r += 4) block4ForAllX(out + (<usize>r << 2), x, w + <usize>r * rowBytes, bias, r, n, rows, cols, scratch);
  }
  for (; r < r1; r++) rowForAllX(out + (<usize>r << 2), x, w + <usize>r * rowBytes, biasAt(bias, r), n, rows, cols);
}
