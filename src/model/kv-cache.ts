import type { KVView } from "../kernels/backend.js";

/**
 * What the forward pass needs from a KV cache, static or paged: a place to write the keys and
 * values of new tokens, and a view attention reads them through. `slot` names a sequence.
 */
export interface KVCache {
  /**
   * Writes the keys and values of t tokens to positions [pos, pos + t) of a sequence: token i's
   * key is src[kAt + i·stride, kAt + i·stride + C), its value the same from vAt. Rows of the
   * fused qkv projection are read in place (stride 3C), without a view per token.
   */
  update(layer: number, slot: number, pos: number, src: Float32Array, kAt: number, vAt: number, stride: number, t: number): void;
  /** The keys and values of one sequence in one layer, as attention reads them. */
  view(layer: number, slot: number): KVView;
}
