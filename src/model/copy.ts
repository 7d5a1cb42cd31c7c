import { UserError } from "../errors.js";
import type { KVArray } from "../kernels/backend.js";
import { f32ToF16 } from "../numeric/half.js";

/**
 * dst[dstAt, dstAt + n) = src[srcAt, srcAt + n). An element loop rather than
 * dst.set(src.subarray(…)): the forward pass copies rows of its buffers (keys and values into the
 * cache, queries out of qkv, embeddings) at every step, and a subarray would be a new view object
 * each time.
 */
export function copyFloats(dst: Float32Array, dstAt: number, src: Float32Array, srcAt: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstAt + i] = src[srcAt + i];
}

/**
 * dst[dstAt, dstAt + n) = src[srcAt, srcAt + n) into a KV pool: as they are for f32, rounded to
 * the nearest half (ties to even) for halves. A value no half holds (|x| ≥ 65520, which rounds
 * to inf, or NaN) is refused: attention reads halves as finite numbers (assembly/half.ts).
 */
export function copyToKV(dst: KVArray, dstAt: number, src: Float32Array, srcAt: number, n: number): void {
  if (dst instanceof Float32Array) {
    copyFloats(dst, dstAt, src, srcAt, n);
    return;
  }
  for (let i = 0; i < n; i++) {
    const h = f32ToF16(src[srcAt + i]);
    if ((h & HALF_EXPONENT) === HALF_EXPONENT) throw beyondHalves(src[srcAt + i]);
    dst[dstAt + i] = h;
  }
}

/** The exponent bits of a half: all ones for inf and NaN. */
const HALF_EXPONENT = 0x7c00;

function beyondHalves(x: number): UserError {
  return new UserError(`a key or value of ${x} is beyond the f16 KV cache (finite halves, |x| < 65520): use the f32 KV cache (--kv-dtype f32)`);
}
