import type { Q6KMatrix } from "./backend.js";
import { Q6K_BLOCK } from "./backend.js";
import { Q6_K_BYTES, quantizeQ6K } from "../io/gguf-kquants.js";
import { f16Table } from "../numeric/half.js";

// How ggml's Q6_K super-blocks (128 bytes of low nibbles, 64 of 2-bit high parts, 16 int8 scales,
// f16 d) become a q6k matrix's arrays. The 6-bit values are reordered, never changed: the
// weights are ggml's. The order is the one assembly/q6k.ts unpacks with a few masks and shifts:
// each half super-block (sub-blocks 0..7, then 8..15) is eight 16-byte vectors V_t whose bytes
// 2k, 2k + 1 hold weights 2t, 2t + 1 of sub-block k, so every i16 lane belongs to one sub-block
// and one i16 × i16 dot against the half's eight scales scales a pair of vectors. Each four
// vectors V_t (t = 0..3, then 4..7) are stored in 48 bytes, three vectors A, B, C: the first three
// V are the low 6 bits of A, B, C, and the fourth is spread over their top two bits: bits 0-1 in
// A's, 2-3 in B's, 4-5 in C's.

/** Bytes of the repacked 6-bit values per super-block, and per unit of 64 weights. */
export const Q6K_Q_BYTES = 192;
const UNIT_BYTES = 48;

/** Where weight i (0..255) of a super-block lives in its repacked bytes: its unit's byte b of vector v (0..3). */
function slot(i: number): { at: number; v: number } {
  const sub = i >> 4, l = i & 15;
  const half = sub >> 3, t = l >> 1;
  return { at: UNIT_BYTES * (2 * half + (t >> 2)) + 2 * (sub & 7) + (l & 1), v: t & 3 };
}

/** Each weight's slot, computed once. */
const SLOTS = Array.from({ length: Q6K_BLOCK }, (_, i) => slot(i));

/** `blocks` Q6_K super-blocks at bytes[at..] → super-blocks [first, first + blocks) of m. */
export function copyQ6KBlocks(bytes: Uint8Array, at: number, blocks: number, m: Q6KMatrix, first: number): void {
  const half = f16Table();
  for (let b = 0; b < blocks; b++, at += Q6_K_BYTES) {
    const k = first + b;
    m.superScales[k] = half[bytes[at + 208] | (bytes[at + 209] << 8)];
    for (let j = 0; j < 16; j++) m.subScales[16 * k + j] = bytes[at + 192 + j];
    const q = k * Q6K_Q_BYTES;
    m.q.fill(0, q, q + Q6K_Q_BYTES);
    for (let i = 0; i < Q6K_BLOCK; i++) {
      // ggml's order (dequantize_row_q6_K): halves of 128, four groups of 32 in each.
      const n = i >> 7, g = (i >> 5) & 3, l = i & 31;
      const low = bytes[at + 64 * n + l + 32 * (g & 1)];
      const value = ((g < 2 ? low : low >> 4) & 0xf) | (((bytes[at + 128 + 32 * n + l] >> (2 * g)) & 3) << 4);
      const { at: u, v } = SLOTS[i];
      if (v < 3) m.q[q + u + 16 * v] |= value;
      else for (let j = 0; j < 3; j++) m.q[q + u + 16 * j] |= ((value >> (2 * j)) & 3) << 6;
    }
  }
}

/** The 6-bit q (0..63) of weight i (counted over the whole matrix). */
export function q6kValue(m: Q6KMatrix, i: number): number {
  const k = Math.floor(i / Q6K_BLOCK);
  const { at, v } = SLOTS[i % Q6K_BLOCK];
  const u = k * Q6K_Q_BYTES + at;
  if (v < 3) return m.q[u + 16 * v] & 63;
  return ((m.q[u] >> 6) & 3) | (((m.q[u + 16] >> 6) & 3) << 2) | (((m.q[u + 32] >> 6) & 3) << 4);
}

/** Weight i as ggml's dequantize_row_q6_K computes it: fround(fround(d·sc)·(q − 32)). */
export function q6kWeight(m: Q6KMatrix, i: number): number {
  const k = Math.floor(i / Q6K_BLOCK);
  const f = Math.fround;
  return f(f(m.superScales[k] * m.subScales[16 * k + ((i % Q6K_BLOCK) >> 4)]) * (q6kValue(m, i) - 32));
}

/**
 * Row r of a q6k matrix against x quantized by quantizeQ8K (kernels/q4k.ts), computed as ggml's
 * Q6_K · Q8_K dot product defines it: per super-block xs · d · Σ_j sc_j · Σ (q − 32)·x, the sums
 * exact integers, the rest in f64.
 */
export function q6kDotQ8K(m: Q6KMatrix, r: number, xq: Int8Array, xScales: Float32Array): number {
  const supers = m.cols / Q6K_BLOCK;
  let sum = 0;
  for (let s = 0; s < supers; s++) {
    const k = r * supers + s;
    let total = 0;
    for (let j = 0; j < 16; j++) {
      let dot = 0;
      for (let l = 0; l < 16; l++) {
        const c = s * Q6K_BLOCK + 16 * j + l;
        dot += (q6kValue(m, r * m.cols + c) - 32) * xq[c];
      }
      total += m.subScales[16 * k + j] * dot;
    }
    sum += xScales[s] * m.superScales[k] * total;
  }
  return sum;
}

const encoded = new Uint8Array(Q6_K_BYTES);

/** f32 weights → q6k super-blocks [first, first + blocks) of m, quantized as ggml's quantize_row_q6_K_ref. */
export function quantizeBlocksQ6K(src: Float32Array, srcOffset: number, m: Q6KMatrix, first: number, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    quantizeQ6K(src, srcOffset + b * Q6K_BLOCK, 1, encoded, 0);
    copyQ6KBlocks(encoded, 0, 1, m, first + b);
  }
}
