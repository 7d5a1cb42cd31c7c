/**
 * dst[dstAt, dstAt + n) = src[srcAt, srcAt + n). An element loop rather than
 * dst.set(src.subarray(…)): the forward pass copies rows of its buffers (keys and values into the
 * cache, queries out of qkv, embeddings) at every step, and a subarray would be a new view object
 * each time.
 */
export function copyFloats(dst: Float32Array, dstAt: number, src: Float32Array, srcAt: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dstAt + i] = src[srcAt + i];
}
