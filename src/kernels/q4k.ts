import type { Q4KMatrix } from "./backend.js";
import { Q4K_BLOCK } from "./backend.js";
import { minOf, Q4_K_BYTES, quantizeQ4K, scaleOf } from "../io/gguf-kquants.js";
import { f16Table } from "../numeric/half.js";

// How ggml's Q4_K super-blocks (f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
// nibbles: 32 bytes per pair of sub-blocks, the first in the low nibbles, the second in the high)
// become a q4k matrix's arrays: each sub-block's 16 bytes in Q4_0's order, the 6-bit values
// unpacked to bytes, d and dmin widened to f32. Nothing is rounded: the weights are ggml's.

/** Sub-blocks of 32 per super-block. */
const SUBS = Q4K_BLOCK / 32;

/** `blocks` Q4_K super-blocks at bytes[at..] → super-blocks [first, first + blocks) of m. */
export function copyQ4KBlocks(bytes: Uint8Array, at: number, blocks: number, m: Q4KMatrix, first: number): void {
  const half = f16Table();
  for (let b = 0; b < blocks; b++, at += Q4_K_BYTES) {
    const k = first + b;
    m.superScales[2 * k] = half[bytes[at] | (bytes[at + 1] << 8)];
    m.superScales[2 * k + 1] = half[bytes[at + 2] | (bytes[at + 3] << 8)];
    for (let j = 0; j < SUBS; j++) {
      m.subScales[16 * k + j] = scaleOf(bytes, at + 4, j);
      m.subScales[16 * k + SUBS + j] = minOf(bytes, at + 4, j);
    }
    const q = k * (Q4K_BLOCK / 2);
    for (let pair = 0; pair < SUBS / 2; pair++) {
      const src = at + 16 + 32 * pair; // element l of sub-block 2·pair low, of 2·pair + 1 high
      const lo = q + 32 * pair, hi = lo + 16;
      for (let j = 0; j < 16; j++) {
        const a = bytes[src + j], c = bytes[src + j + 16];
        m.q[lo + j] = (a & 0x0f) | ((c & 0x0f) << 4);
        m.q[hi + j] = (a >> 4) | (c & 0xf0);
      }
    }
  }
}

/** The nibble q (0..15) of weight i (counted over the whole matrix). */
function q4kNibble(m: Q4KMatrix, i: number): number {
  const k = Math.floor(i / Q4K_BLOCK);
  const inSub = i % 32;
  const byte = m.q[k * (Q4K_BLOCK / 2) + 16 * ((i % Q4K_BLOCK) >> 5) + (inSub & 15)];
  return inSub < 16 ? byte & 15 : (byte >> 4) & 15;
}

/**
 * Weight i (counted over the whole matrix) as ggml's dequantize_row_q4_K computes it:
 * fround(fround(d·sc)·q) − fround(dmin·m).
 */
export function q4kWeight(m: Q4KMatrix, i: number): number {
  const k = Math.floor(i / Q4K_BLOCK);
  const j = (i % Q4K_BLOCK) >> 5;
  const f = Math.fround;
  const scale = f(m.superScales[2 * k] * m.subScales[16 * k + j]);
  const min = f(m.superScales[2 * k + 1] * m.subScales[16 * k + SUBS + j]);
  return f(f(scale * q4kNibble(m, i)) - min);
}

/** Round half to even, as f32x4.nearest does. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The activations a q4k matmul meets, quantized as ggml's Q8_K quantizes them for its vec_dot:
 * per Q4K_BLOCK values one scale amax / 127 (f32) and q = round-half-even(x · fround(127 / amax))
 * in [-127, 127]. `x` holds whole super-blocks; q and scales receive one entry per value and per
 * super-block. |x − q·scale| ≤ amax / 254 (plus f32 rounding).
 */
export function quantizeQ8K(x: Float32Array, q: Int8Array, scales: Float32Array): void {
  const f = Math.fround;
  for (let s = 0; s < scales.length; s++) {
    const at = s * Q4K_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q4K_BLOCK; i++) amax = Math.max(amax, Math.abs(x[at + i]));
    scales[s] = f(amax / 127);
    const inv = amax === 0 ? 0 : f(127 / amax);
    for (let i = 0; i < Q4K_BLOCK; i++) q[at + i] = roundHalfEven(f(x[at + i] * inv));
  }
}

/**
 * Row r of a q4k matrix against x quantized by quantizeQ8K, computed as ggml's Q4_K · Q8_K dot
 * product defines it: per super-block xs · (d · Σ_j sc_j · Σ q·x − dmin · Σ_j m_j · Σ x), the sums
 * exact integers, the rest in f64.
 */
export function q4kDotQ8K(m: Q4KMatrix, r: number, xq: Int8Array, xScales: Float32Array): number {
  const supers = m.cols / Q4K_BLOCK;
  let sum = 0;
  for (let s = 0; s < supers; s++) {
    const k = r * supers + s;
    let dots = 0, mins = 0;
    for (let j = 0; j < SUBS; j++) {
      let dot = 0, xsum = 0;
      for (let l = 0; l < 32; l++) {
        const c = s * Q4K_BLOCK + 32 * j + l;
        dot += q4kNibble(m, r * m.cols + c) * xq[c];
        xsum += xq[c];
      }
      dots += m.subScales[16 * k + j] * dot;
      mins += m.subScales[16 * k + SUBS + j] * xsum;
    }
    sum += xScales[s] * (m.superScales[2 * k] * dots - m.superScales[2 * k + 1] * mins);
  }
  return sum;
}

const encoded = new Uint8Array(Q4_K_BYTES);

/** f32 weights → q4k super-blocks [first, first + blocks) of m, quantized as ggml's quantize_row_q4_K_ref. */
export function quantizeBlocksQ4K(src: Float32Array, srcOffset: number, m: Q4KMatrix, first: number, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    quantizeQ4K(src, srcOffset + b * Q4K_BLOCK, 1, encoded, 0);
    copyQ4KBlocks(encoded, 0, 1, m, first + b);
  }
}
