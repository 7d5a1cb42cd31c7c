import type { KVView } from "../kernels/backend.js";

/**
 * What the forward pass needs from a KV cache, static or paged: a place to write the keys and
 * values of new tokens, and a view attention reads them through. `slot` names a sequence.
 * A cached position holds nKVHead · headDim elements (kvWidth) of keys and as many of values:
 * f32, or halves rounded as they are written (the cache's KVDType).
 */
export interface KVCache {
  /**
   * Writes the keys and values of t tokens to positions [pos, pos + t) of a sequence: token i's
   * key is k[kAt + i·stride, kAt + i·stride + kvWidth), its value the same in v from vAt. Rows of
   * a fused qkv projection are read in place (stride = its row width), without a view per token.
   */
  update(layer: number, slot: number, pos: number, t: number, k: Float32Array, kAt: number, v: Float32Array, vAt: number, stride: number): void;
  /** The keys and values of one sequence in one layer, as attention reads them. */
  view(layer: number, slot: number): KVView;
}
