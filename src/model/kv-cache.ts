import type { KVView } from "../kernels/backend.js";

/**
 * What the forward pass needs from a KV cache, static or paged: a place to write the keys and
 * values of new tokens, and a view attention reads them through. `slot` names a sequence.
 */
export interface KVCache {
  /** Copies t rows of keys and values (t, C) for positions [pos, pos + t) of a sequence. */
  update(layer: number, slot: number, pos: number, k: Float32Array, v: Float32Array, t: number): void;
  /** The keys and values of one sequence in one layer, as attention reads them. */
  view(layer: number, slot: number): KVView;
}
