import type { Backend, KVView } from "../../kernels/backend.js";
import type { StepBatch } from "../batch.js";
import type { KVCache } from "../kv-cache.js";

/** The heads of causal self-attention: nHead query heads share nKVHead key/value heads. */
export interface AttentionHeads {
  readonly nHead: number;
  readonly nKVHead: number;
  readonly headDim: number;
}

/** Attention's working memory besides q and the cache, allocated once per forward pass. */
export class AttentionScratch {
  readonly scores: Float32Array; // (nHead, P) attention scores of one query row per head
  readonly decodeKVs: KVView[]; // (maxChunks,) the caches of a step's single-token chunks, one layer at a time
  readonly decodePositions: Int32Array; // (maxChunks,) the positions of their tokens

  constructor(backend: Backend, nHead: number, maxPositions: number, maxChunks: number) {
    this.scores = backend.allocF32(nHead * maxPositions);
    this.decodeKVs = new Array<KVView>(maxChunks);
    this.decodePositions = new Int32Array(maxChunks);
  }
}

/**
 * Writes each chunk's keys and values into the cache: token i's key is row i of `k` from column
 * kAt (rows `stride` floats apart), its value the same in `v`. Rows are read in place, so a
 * fused qkv projection needs no copy.
 */
export function storeKV(cache: KVCache, layer: number, batch: StepBatch, k: Float32Array, kAt: number, v: Float32Array, vAt: number, stride: number): void {
  for (let c = 0, row = 0; c < batch.numChunks; row += batch.chunkLength[c], c++) {
    cache.update(layer, batch.chunkSlot[c], batch.chunkStart[c], batch.chunkLength[c], k, kAt + row * stride, v, vAt + row * stride, stride);
  }
}

/**
 * Causal self-attention of each sequence of the batch over its cache: a prompt chunk on its own,
 * and a run of single-token chunks (the decode steps of several sequences) in one call, so that
 * the backend's threads can share out all of their positions at once.
 * out (N, nHead·headDim) = softmax(q kᵀ/√headDim + mask) v, per sequence and head.
 */
export function attend(k: Backend, out: Float32Array, q: Float32Array, cache: KVCache, layer: number, batch: StepBatch, heads: AttentionHeads, scratch: AttentionScratch): void {
  const { nHead, nKVHead, headDim } = heads;
  for (let c = 0, row = 0; c < batch.numChunks; ) {
    const t = batch.chunkLength[c];
    if (t > 1) {
      k.attention(out, q, row, cache.view(layer, batch.chunkSlot[c]), batch.chunkStart[c], t, nHead, nKVHead, headDim, scratch.scores);
      row += t;
      c++;
      continue;
    }
    let n = 0;
    for (; c < batch.numChunks && batch.chunkLength[c] === 1; c++, n++) {
      scratch.decodeKVs[n] = cache.view(layer, batch.chunkSlot[c]);
      scratch.decodePositions[n] = batch.chunkStart[c];
    }
    k.attentionDecode(out, q, row, scratch.decodeKVs, scratch.decodePositions, n, nHead, nKVHead, headDim);
    row += n;
  }
}
