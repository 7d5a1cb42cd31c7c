import type { Q5Matrix } from "./backend.js";
import { Q5_BLOCK, Q5_GROUP_BYTES, q5HighBytesPerRow } from "./backend.js";
import { f16Table } from "../numeric/half.js";

// How ggml's Q5_0 blocks (f16 d, a 32-bit qh whose bit e is element e's fifth bit, 16 bytes of
// low nibbles in Q4_0's order) become a q5 matrix's arrays (backend.ts): d widened to f32, and the
// 5-bit values q repacked so that the kernels unpack them with few instructions. Byte j of a
// block's 16 in `q` holds q_j (bits 0-4) and the low three bits of q_{j+16} (bits 5-7); the two
// high bits of q_{j+16} go to the group of four blocks' 16 bytes of `qh`, byte j, bits 2·b and
// 2·b + 1 for the group's block b. Nothing is rounded: the weights are ggml's.

/** A Q5_0 block on disk: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles. */
export const Q5_0_BYTES = 22;
const HALF = Q5_BLOCK / 2;

/** Block k of row `row` = the 32 values q[at..] (0..31) and its scale. */
function setBlock(m: Q5Matrix, row: number, k: number, q: Uint8Array, scale: number): void {
  const b = row * (m.cols / Q5_BLOCK) + k;
  m.scales[b] = scale;
  const group = row * q5HighBytesPerRow(m.cols) + (k >> 2) * Q5_GROUP_BYTES;
  const shift = 2 * (k & 3);
  for (let j = 0; j < HALF; j++) {
    const hi = q[j + HALF];
    m.q[b * HALF + j] = q[j] | ((hi & 7) << 5);
    m.qh[group + j] = (m.qh[group + j] & ~(3 << shift)) | ((hi >> 3) << shift);
  }
}

const values = new Uint8Array(Q5_BLOCK);

/** `blocks` Q5_0 blocks at bytes[at..] → blocks [first, first + blocks) of row `row` of m. */
export function copyQ5Blocks(bytes: Uint8Array, at: number, blocks: number, m: Q5Matrix, row: number, first: number): void {
  const half = f16Table();
  for (let k = 0; k < blocks; k++, at += Q5_0_BYTES) {
    const fifth = (bytes[at + 2] | (bytes[at + 3] << 8) | (bytes[at + 4] << 16) | (bytes[at + 5] << 24)) >>> 0;
    for (let j = 0; j < HALF; j++) {
      const byte = bytes[at + 6 + j];
      values[j] = (byte & 15) | (((fifth >>> j) & 1) << 4);
      values[j + HALF] = (byte >> 4) | (((fifth >>> (j + HALF)) & 1) << 4);
    }
    setBlock(m, row, first + k, values, half[bytes[at] | (bytes[at + 1] << 8)]);
  }
}

/** q (0..31) of weight i, counted over the whole matrix. */
export function q5Value(m: Q5Matrix, i: number): number {
  const row = Math.floor(i / m.cols), c = i % m.cols;
  const e = c & 31, j = e & 15;
  const byte = m.q[(i - e) / 2 + j] & 0xff;
  if (e < HALF) return byte & 31;
  const high = m.qh[row * q5HighBytesPerRow(m.cols) + (c >> 7) * Q5_GROUP_BYTES + j] >> (2 * ((c >> 5) & 3));
  return (byte >> 5) | ((high & 3) << 3);
}

/** Weight i (counted over the whole matrix) as ggml's dequantize_row_q5_0 computes it: (q − 16)·d in f32. */
export function q5Weight(m: Q5Matrix, i: number): number {
  return Math.fround((q5Value(m, i) - 16) * m.scales[Math.floor(i / Q5_BLOCK)]);
}


/**
 * Quantizes `blocks` blocks of 32 weights from src[srcOffset..] into blocks [first, first + blocks)
 * of row `row`, as ggml's quantize_row_q5_0_ref with the scale kept in f32 (as q4 keeps Q4_0's):
 * d = (the weight of largest magnitude) / −16, q = min(31, ⌊w / d + 16.5⌋), so the largest weight
 * is exactly −16·d and |w − (q − 16)·d| ≤ |d| / 2 for the others.
 */
export function quantizeBlocksQ5(src: Float32Array, srcOffset: number, m: Q5Matrix, row: number, first: number, blocks: number): void {
  for (let k = 0; k < blocks; k++) {
    const from = srcOffset + k * Q5_BLOCK;
    let amax = 0;
    let max = 0;
    for (let i = 0; i < Q5_BLOCK; i++) {
      const v = src[from + i];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -16);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    // ⌊x + 16.5⌋ as C's truncation of a value ≥ 0; NaN (unreachable past the loaders' checks) → 0.
    for (let j = 0; j < Q5_BLOCK; j++) values[j] = Math.min(31, Math.trunc(Math.fround(Math.fround(src[from + j] * id) + 16.5))) || 0;
    setBlock(m, row, first + k, values, d);
  }
}
