import { f16Table, f32ToF16 } from "../numeric/half.js";

/**
 * ggml's K-quants: super-blocks of 256 values, decoded and encoded exactly as its reference C
 * code (ggml-quants.c: dequantize_row_q{4,5,6}_K, quantize_row_q{4,5,6}_K_ref) does. Every float
 * operation of the C code is one Math.fround here, in the C code's order, so the results are
 * the same bits; integer steps (nearest_int) follow its float trick.
 *
 *   Q4_K (144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8 sub-blocks of
 *        32, 128 bytes of nibbles;  w = d·sc·q − dmin·m,  q in 0..15
 *   Q5_K (176 bytes): as Q4_K plus 32 bytes holding each value's fifth bit;  q in 0..31
 *   Q6_K (210 bytes): 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales for
 *        sub-blocks of 16, f16 d;  w = d·sc·(q − 32),  q in 0..63
 */

export const QK_K = 256;
export const Q4_K_BYTES = 144;
export const Q5_K_BYTES = 176;
export const Q6_K_BYTES = 210;
/** ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this is all zero. */
const GROUP_MAX_EPS = Math.fround(1e-15);

const f = Math.fround;

/** ggml's nearest_int: round half to even through the float sum with 1.5·2^23. */
function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

/** The j-th 6-bit scale of a Q4_K/Q5_K block's 12 scale bytes at `at` (get_scale_min_k4's d). */
export function scaleOf(b: Uint8Array, at: number, j: number): number {
  return j < 4 ? b[at + j] & 63 : (b[at + j + 4] & 0xf) | ((b[at + j - 4] >> 6) << 4);
}

/** The j-th 6-bit min (get_scale_min_k4's m). */
export function minOf(b: Uint8Array, at: number, j: number): number {
  return j < 4 ? b[at + j + 4] & 63 : (b[at + j + 4] >> 4) | ((b[at + j] >> 6) << 4);
}

function half(b: Uint8Array, at: number): number {
  return f16Table()[b[at] | (b[at + 1] << 8)];
}

/** dequantize_row_q4_K over `blocks` blocks from b[at..] into out[o..]. */
export function dequantizeQ4K(b: Uint8Array, at: number, blocks: number, out: Float32Array, o: number): void {
  for (let i = 0; i < blocks; i++, at += Q4_K_BYTES) {
    const d = half(b, at);
    const min = half(b, at + 2);
    let q = at + 16;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
      const d1 = f(d * scaleOf(b, at + 4, is)), m1 = f(min * minOf(b, at + 4, is));
      const d2 = f(d * scaleOf(b, at + 4, is + 1)), m2 = f(min * minOf(b, at + 4, is + 1));
      for (let l = 0; l < 32; l++) out[o++] = f(d1 * (b[q + l] & 0xf)) - m1;
      for (let l = 0; l < 32; l++) out[o++] = f(d2 * (b[q + l] >> 4)) - m2;
    }
  }
}

/** dequantize_row_q5_K. */
export function dequantizeQ5K(b: Uint8Array, at: number, blocks: number, out: Float32Array, o: number): void {
  for (let i = 0; i < blocks; i++, at += Q5_K_BYTES) {
    const d = half(b, at);
    const min = half(b, at + 2);
    const qh = at + 16;
    let ql = at + 48;
    let u1 = 1, u2 = 2;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      const d1 = f(d * scaleOf(b, at + 4, is)), m1 = f(min * minOf(b, at + 4, is));
      const d2 = f(d * scaleOf(b, at + 4, is + 1)), m2 = f(min * minOf(b, at + 4, is + 1));
      for (let l = 0; l < 32; l++) out[o++] = f(d1 * ((b[ql + l] & 0xf) + (b[qh + l] & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) out[o++] = f(d2 * ((b[ql + l] >> 4) + (b[qh + l] & u2 ? 16 : 0))) - m2;
    }
  }
}

/** dequantize_row_q6_K. */
export function dequantizeQ6K(b: Uint8Array, at: number, blocks: number, out: Float32Array, o: number): void {
  for (let i = 0; i < blocks; i++, at += Q6_K_BYTES) {
    const d = half(b, at + 208);
    let ql = at, qh = at + 128, sc = at + 192;
    for (let n = 0; n < QK_K; n += 128, ql += 64, qh += 32, sc += 8, o += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l] & 0xf) | (((b[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32] & 0xf) | (((b[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) - 32;
        out[o + l] = f(d * ((b[sc + is] << 24) >> 24)) * q1;
        out[o + l + 32] = f(d * ((b[sc + is + 2] << 24) >> 24)) * q2;
        out[o + l + 64] = f(d * ((b[sc + is + 4] << 24) >> 24)) * q3;
        out[o + l + 96] = f(d * ((b[sc + is + 6] << 24) >> 24)) * q4;
      }
    }
  }
}

/**
 * Scratch shared by the quantizers, allocated once (one call at a time: JavaScript is
 * single-threaded here). The search of makeQkx2Quants runs up to 21 trial scales over every 32
 * values, so it reads its sub-block from small local arrays rather than the caller's.
 */
const L = new Uint8Array(QK_K);
const Laux = new Int32Array(32);
const xs = new Float32Array(32);
/** xs[i] − min for the min the search currently holds. */
const xm = new Float32Array(32);
const weights = new Float32Array(32);
const mins = new Float32Array(QK_K / 32);
const scales = new Float32Array(QK_K / 16);
const minOut = new Float32Array(1);

/** nearestInt clamped to 0..nmax, as an int (NaN as 0, as a byte store makes it). */
function levelOf(v: number, nmax: number): number {
  const l = nearestInt(v);
  return (l < 0 ? 0 : l > nmax ? nmax : l) | 0;
}

/**
 * make_qkx2_quants over the 32 values in xs with weights `weights` (use_mad false): an affine
 * (scale, min) fit to 0..nmax by weighted least squares over nstep + 1 trial scales. Writes the
 * levels to L[Lo..], −min to minOut[0], returns the scale.
 *
 * Two shortcuts leave every result as the C code's. A trial whose levels are the previous
 * trial's has the same sums, fit and error, which the previous trial already compared with the
 * best, so it cannot win and is skipped. The error is a sum of non-negative terms, so it stops
 * growing only in the direction of losing: once it reaches the best error the trial has lost.
 */
function makeQkx2Quants(nmax: number, Lo: number, rmin: number, rdelta: number, nstep: number): number {
  // Locals, so the loops below need not reload the module's arrays.
  const X = xs, XM = xm, W = weights, LA = Laux;
  const n = 32;
  let min = X[0];
  let max = X[0];
  let sumW = W[0];
  let sumX = f(sumW * X[0]);
  for (let i = 1; i < n; i++) {
    const x = X[i], w = W[i];
    if (x < min) min = x;
    if (x > max) max = x;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * x));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, Lo, Lo + n);
    minOut[0] = -min;
    return 0;
  }
  let range = f(max - min);
  let iscale = f(nmax / range);
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const d = f(X[i] - min);
    XM[i] = d;
    const l = levelOf(f(iscale * d), nmax);
    L[Lo + i] = l;
    const diff = f(f(f(scale * l) + min) - X[i]);
    bestError = f(bestError + f(W[i] * f(diff * diff)));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / range);
    let changed = is === 0;
    for (let i = 0; i < n; i++) {
      const l = levelOf(f(iscale * XM[i]), nmax);
      if (l !== LA[i]) {
        LA[i] = l;
        changed = true;
      }
    }
    if (!changed) continue;
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = LA[i];
      const wl = f(W[i] * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * X[i]));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n && curError < bestError; i++) {
        const diff = f(f(f(thisScale * LA[i]) + thisMin) - X[i]);
        curError = f(curError + f(W[i] * f(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[Lo + i] = LA[i];
        bestError = curError;
        scale = thisScale;
        // The C code's later trials divide by the new max − min and measure from the new min.
        const moved = thisMin !== min;
        min = thisMin;
        if (moved) {
          range = f(max - min);
          for (let i = 0; i < n; i++) XM[i] = f(X[i] - min);
        }
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/**
 * The part quantize_row_q4_K_ref and quantize_row_q5_K_ref share for one super-block at x[xo..]:
 * a (scale, min) per 32 values by makeQkx2Quants, those as 6-bit codes in the 12 bytes at
 * out[o + 4..] under f16 d and dmin at out[o..], and each value's level 0..nmax in L.
 */
function affineSuperBlock(x: Float32Array, xo: number, out: Uint8Array, o: number, nmax: number, rmin: number, nstep: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < QK_K / 32; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) {
      const v = x[xo + 32 * j + l];
      xs[l] = v;
      sumX2 = f(sumX2 + f(v * v));
    }
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(xs[l]));
    const scale = makeQkx2Quants(nmax, 32 * j, rmin, f(0.1), nstep);
    scales[j] = scale;
    mins[j] = minOut[0];
    if (scale > maxScale) maxScale = scale;
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const s = o + 4;
  out.fill(0, s, s + 12);
  for (let j = 0; j < QK_K / 32; j++) {
    const ls = Math.min(63, nearestInt(f(invScale * scales[j])) & 0xff);
    const lm = Math.min(63, nearestInt(f(invMin * mins[j])) & 0xff);
    if (j < 4) {
      out[s + j] = ls;
      out[s + j + 4] = lm;
    } else {
      out[s + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[s + j - 4] |= (ls >> 4) << 6;
      out[s + j] |= (lm >> 4) << 6;
    }
  }
  const dBits = f32ToF16(f(maxScale / 63));
  const dminBits = f32ToF16(f(maxMin / 63));
  out[o] = dBits & 0xff;
  out[o + 1] = dBits >> 8;
  out[o + 2] = dminBits & 0xff;
  out[o + 3] = dminBits >> 8;
  const dHalf = half(out, o);
  const dminHalf = half(out, o + 2);
  for (let j = 0; j < QK_K / 32; j++) {
    const d = f(dHalf * scaleOf(out, s, j));
    // As the C code: a sub-block whose scale code is 0 keeps makeQkx2Quants' levels.
    if (d === 0) continue;
    const dm = f(dminHalf * minOf(out, s, j));
    for (let ii = 0; ii < 32; ii++) L[32 * j + ii] = levelOf(f(f(x[xo + 32 * j + ii] + dm) / d), nmax);
  }
}

/** quantize_row_q4_K_ref: `blocks` super-blocks of x[xo..] into out[o..]. */
export function quantizeQ4K(x: Float32Array, xo: number, blocks: number, out: Uint8Array, o: number): void {
  for (let i = 0; i < blocks; i++, xo += QK_K, o += Q4_K_BYTES) {
    affineSuperBlock(x, xo, out, o, 15, -1, 20);
    let q = o + 16;
    for (let j = 0; j < QK_K; j += 64, q += 32) for (let l = 0; l < 32; l++) out[q + l] = L[j + l] | (L[j + l + 32] << 4);
  }
}

/** quantize_row_q5_K_ref: as Q4_K with levels 0..31, the fifth bits of each value apart. */
export function quantizeQ5K(x: Float32Array, xo: number, blocks: number, out: Uint8Array, o: number): void {
  for (let i = 0; i < blocks; i++, xo += QK_K, o += Q5_K_BYTES) {
    affineSuperBlock(x, xo, out, o, 31, f(-0.5), 15);
    const qh = o + 16;
    out.fill(0, qh, qh + 32);
    let ql = o + 48;
    for (let n = 0, m1 = 1, m2 = 2; n < QK_K; n += 64, ql += 32, m1 <<= 2, m2 <<= 2) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j];
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j] |= m1;
        }
        let l2 = L[n + j + 32];
        if (l2 > 15) {
          l2 -= 16;
          out[qh + j] |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
    }
  }
}

const L6 = new Int8Array(QK_K);
/** makeQxQuants' 16 values, their weights x² and x²·x (the same every trial, so computed once), and a trial's levels. */
const x6 = new Float32Array(16);
const w6 = new Float32Array(16);
const wx6 = new Float32Array(16);
const l6 = new Int32Array(16);

/** nearestInt clamped to -nmax..nmax-1, as an int. */
function signedLevelOf(v: number, nmax: number): number {
  const l = nearestInt(v);
  return (l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l) | 0;
}

/**
 * make_qx_quants with rmse_type 1 and no weights: a symmetric fit of 16 values to -nmax..nmax-1.
 * A trial whose levels are the previous trial's (or the first fit's) has the same sums, so it
 * leaves the fit as it is whether it wins or not: it is skipped.
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, Lo: number): number {
  const X = x6, W = w6, WX = wx6, LV = l6;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i];
    X[i] = v;
    const ax = Math.abs(v);
    if (ax > amax) {
      amax = ax;
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L6.fill(0, Lo, Lo + n);
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = signedLevelOf(f(iscale * X[i]), nmax);
    LV[i] = l;
    L6[Lo + i] = l + nmax;
    const w = f(X[i] * X[i]);
    W[i] = w;
    WX[i] = f(w * X[i]);
    sumlx = f(sumlx + f(WX[i] * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    let changed = false;
    for (let i = 0; i < n; i++) {
      const l = signedLevelOf(f(iscale * X[i]), nmax);
      if (l !== LV[i]) {
        LV[i] = l;
        changed = true;
      }
    }
    if (!changed) continue;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = LV[i];
      sumlx = f(sumlx + f(WX[i] * l));
      suml2 = f(suml2 + f(f(W[i] * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L6[Lo + i] = nmax + LV[i];
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** quantize_row_q6_K_ref. */
export function quantizeQ6K(x: Float32Array, xo: number, blocks: number, out: Uint8Array, o: number): void {
  for (let i = 0; i < blocks; i++, xo += QK_K, o += Q6_K_BYTES) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < QK_K / 16; ib++) {
      const scale = makeQxQuants(16, 32, x, xo + 16 * ib, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    out.fill(0, o, o + Q6_K_BYTES);
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all zero, d = +0
    const iscale = f(-128 / maxScale);
    const dBits = f32ToF16(f(1 / iscale));
    out[o + 208] = dBits & 0xff;
    out[o + 209] = dBits >> 8;
    const dHalf = half(out, o + 208);
    for (let ib = 0; ib < QK_K / 16; ib++) out[o + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]))) & 0xff;
    for (let j = 0; j < QK_K / 16; j++) {
      const d = f(dHalf * ((out[o + 192 + j] << 24) >> 24));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) L6[16 * j + ii] = Math.max(-32, Math.min(31, nearestInt(f(x[xo + 16 * j + ii] / d)))) + 32;
    }
    let ql = o, qh = o + 128;
    for (let j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const q1 = L6[j + l] & 0xf, q2 = L6[j + l + 32] & 0xf, q3 = L6[j + l + 64] & 0xf, q4 = L6[j + l + 96] & 0xf;
        out[ql + l] = q1 | (q3 << 4);
        out[ql + l + 32] = q2 | (q4 << 4);
        out[qh + l] = (L6[j + l] >> 4) | ((L6[j + l + 32] >> 4) << 2) | ((L6[j + l + 64] >> 4) << 4) | ((L6[j + l + 96] >> 4) << 6);
      }
    }
  }
}
