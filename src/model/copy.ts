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
 * the nearest half (ties to even, overflow to ±inf) for halves.
 */
export function copyToKV(dst: KVArray, dstAt: number, src: Float32Array, srcAt: number, n: number): void {
  if (dst instanceof Float32Array) copyFloats(dst, dstAt, src, srcAt, n);
  else for (let i = 0; i < n; i++) dst[dstAt + i] = f32ToF16(src[srcAt + i]);
}
