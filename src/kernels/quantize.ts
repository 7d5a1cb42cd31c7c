import type { Backend, Q8Matrix } from "./backend.js";
import { Q8_BLOCK } from "./backend.js";

/**
 * Quantizes a (rows, cols) f32 weight matrix to Q8_0 at load time: per block of 32 weights,
 * scale = max|w| / 127 and q = round(w / scale), so |w - q·scale| ≤ scale / 2. The arrays come
 * from the backend so its kernels can read them in place.
 */
export function quantizeQ8(backend: Backend, src: Float32Array, rows: number, cols: number): Q8Matrix {
  if (cols % Q8_BLOCK !== 0) throw new Error(`quantizeQ8: cols ${cols} is not a multiple of ${Q8_BLOCK}`);
  if (src.length < rows * cols) throw new Error(`quantizeQ8: source has ${src.length} values, ${rows}×${cols} needed`);
  const q = backend.allocI8(rows * cols);
  const scales = backend.allocF32((rows * cols) / Q8_BLOCK);
  for (let b = 0; b < scales.length; b++) {
    const base = b * Q8_BLOCK;
    let amax = 0;
    for (let i = 0; i < Q8_BLOCK; i++) amax = Math.max(amax, Math.abs(src[base + i]));
    // The scale is stored in f32: quantize against that rounded value so q·scale is what we meant.
    const scale = Math.fround(amax / 127);
    scales[b] = scale;
    if (scale === 0) continue;
    for (let i = 0; i < Q8_BLOCK; i++) q[base + i] = Math.max(-127, Math.min(127, Math.round(src[base + i] / scale)));
  }
  return { kind: "q8", rows, cols, q, scales };
}
