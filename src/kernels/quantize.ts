import type { Backend, Q8Matrix } from "./backend.js";
import { Q8_BLOCK } from "./backend.js";

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
