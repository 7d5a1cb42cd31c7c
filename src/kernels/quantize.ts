import type { Backend, Q4Matrix, Q8Matrix } from "./backend.js";
import { Q4_BLOCK, Q8_BLOCK } from "./backend.js";

/**
 * Quantizes `blocks` blocks of 32 weights (Q8_0): per block scale = max|w| / 127 and
 * q = round(w / scale), so |w - q·scale| ≤ scale / 2. Reads src from srcOffset, writes q from
 * blockOffset * 32 and scales from blockOffset: a matrix can be filled a few rows at a time.
 */
export function quantizeBlocksQ8(src: Float32Array, srcOffset: number, q: Int8Array, scales: Float32Array, blockOffset: number, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const from = srcOffset + b * Q8_BLOCK;
    const to = (blockOffset + b) * Q8_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_BLOCK; i++) amax = Math.max(amax, Math.abs(src[from + i]));
    // The scale is stored in f32: quantize against that rounded value so q·scale is what we meant.
    const scale = Math.fround(amax / 127);
    scales[blockOffset + b] = scale;
    for (let i = 0; i < Q8_BLOCK; i++) q[to + i] = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(src[from + i] / scale)));
  }
}

/** Quantizes a whole (rows, cols) f32 matrix into arrays from the backend, so its kernels read them in place. */
export function quantizeQ8(backend: Backend, src: Float32Array, rows: number, cols: number): Q8Matrix {
  if (cols % Q8_BLOCK !== 0) throw new Error(`quantizeQ8: cols ${cols} is not a multiple of ${Q8_BLOCK}`);
  if (src.length < rows * cols) throw new Error(`quantizeQ8: source has ${src.length} values, ${rows}×${cols} needed`);
  const q = backend.allocI8(rows * cols);
  const scales = backend.allocF32((rows * cols) / Q8_BLOCK);
  quantizeBlocksQ8(src, 0, q, scales, 0, scales.length);
  return { kind: "q8", rows, cols, q, scales };
}

/**
 * Quantizes `blocks` blocks of 32 weights as ggml's Q4_0 (quantize_row_q4_0_ref), the scale kept
 * in f32: d = (the weight of largest magnitude) / −8, nibble = min(15, ⌊w / d + 8.5⌋), so the
 * largest weight is exactly −8·d and |w − (nibble − 8)·d| ≤ |d| / 2 for the others. Byte j of a
 * block holds element j (low nibble) and j + 16 (high). Reads src from srcOffset, writes 16
 * bytes per block into q from blockOffset * 16 and scales from blockOffset.
 */
export function quantizeBlocksQ4(src: Float32Array, srcOffset: number, q: Int8Array, scales: Float32Array, blockOffset: number, blocks: number): void {
  const half = Q4_BLOCK / 2;
  for (let b = 0; b < blocks; b++) {
    const from = srcOffset + b * Q4_BLOCK;
    const to = (blockOffset + b) * half;
    let amax = 0;
    let max = 0;
    for (let i = 0; i < Q4_BLOCK; i++) {
      const v = src[from + i];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    scales[blockOffset + b] = d;
    for (let j = 0; j < half; j++) {
      // ⌊x + 8.5⌋ as C's truncation of a value ≥ 0; NaN (unreachable past the loaders' checks) → 0.
      const lo = Math.min(15, Math.trunc(Math.fround(Math.fround(src[from + j] * id) + 8.5))) || 0;
      const hi = Math.min(15, Math.trunc(Math.fround(Math.fround(src[from + j + half] * id) + 8.5))) || 0;
      q[to + j] = lo | (hi << 4);
    }
  }
}

/** Quantizes a whole (rows, cols) f32 matrix to q4 in arrays from the backend. */
export function quantizeQ4(backend: Backend, src: Float32Array, rows: number, cols: number): Q4Matrix {
  if (cols % Q4_BLOCK !== 0) throw new Error(`quantizeQ4: cols ${cols} is not a multiple of ${Q4_BLOCK}`);
  if (src.length < rows * cols) throw new Error(`quantizeQ4: source has ${src.length} values, ${rows}×${cols} needed`);
  const q = backend.allocI8((rows * cols) / 2);
  const scales = backend.allocF32((rows * cols) / Q4_BLOCK);
  quantizeBlocksQ4(src, 0, q, scales, 0, scales.length);
  return { kind: "q4", rows, cols, q, scales };
}


/** Weight `i` (counted over the whole matrix) of a q4 matrix's nibbles, offset removed: −8..7. */
export function q4Nibble(q: Int8Array, i: number): number {
  const inBlock = i % Q4_BLOCK;
  const byte = q[(i - inBlock) / 2 + (inBlock % (Q4_BLOCK / 2))];
  return (inBlock < Q4_BLOCK / 2 ? byte & 15 : (byte >> 4) & 15) - 8;
}
