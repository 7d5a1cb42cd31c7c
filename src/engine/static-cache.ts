import { KV_ELEMENT_BYTES, type Backend, type KVArray, type KVDType, type KVView } from "../kernels/backend.js";
import { copyToKV } from "../model/copy.js";
import type { KVCache } from "../model/kv-cache.js";
import { kvWidth, type ModelShape } from "../model/shape.js";

/**
 * The static KV cache: allocated once, shaped (layers, batch, position, kv_heads, head_dim),
 * so a sequence's keys for one layer are one contiguous (P, nkv, hs) slab that attention walks in
 * order. Attention sees it as a paged cache with one block of P positions per sequence.
 * Elements are f32 or halves (`dtype`), rounded as they are stored.
 */
export class StaticKVCache implements KVCache {
  readonly k: KVArray; // (L, B, P, nkv, hs)
  readonly v: KVArray; // (L, B, P, nkv, hs)
  private readonly views: KVView[][]; // [layer][slot]
  private readonly rowWidth: number; // nkv * hs floats per position

  constructor(
    shape: ModelShape,
    backend: Backend,
    readonly batchSize: number,
    readonly maxPositions: number = shape.contextLength,
    readonly dtype: KVDType = "f32",
  ) {
    const { nLayer: L } = shape;
    const C = kvWidth(shape);
    this.rowWidth = C;
    const alloc = (n: number): KVArray => (dtype === "f16" ? backend.allocU16(n) : backend.allocF32(n));
    this.k = alloc(L * batchSize * maxPositions * C);
    this.v = alloc(L * batchSize * maxPositions * C);
    const layerSize = batchSize * maxPositions * C;
    this.views = [];
    for (let l = 0; l < L; l++) {
      const k = this.k.subarray(l * layerSize, (l + 1) * layerSize);
      const v = this.v.subarray(l * layerSize, (l + 1) * layerSize);
      this.views.push(Array.from({ length: batchSize }, (_, b) => ({ k, v, blockTable: Int32Array.of(b), blockSize: maxPositions })));
    }
  }

  update(layer: number, slot: number, pos: number, t: number, k: Float32Array, kAt: number, v: Float32Array, vAt: number, stride: number): void {
    if (pos + t > this.maxPositions) throw new Error(`StaticKVCache: position ${pos + t} beyond ${this.maxPositions}`);
    const C = this.rowWidth;
    const offset = this.rowOffset(layer, slot, pos);
    for (let i = 0; i < t; i++) {
      copyToKV(this.k, offset + i * C, k, kAt + i * stride, C);
      copyToKV(this.v, offset + i * C, v, vAt + i * stride, C);
    }
  }

  /** Bytes of keys and values a cache of this shape and dtype takes: what LLM.load budgets. */
  static bytes(shape: ModelShape, batchSize: number, maxPositions: number, dtype: KVDType): number {
    return 2 * shape.nLayer * batchSize * maxPositions * kvWidth(shape) * KV_ELEMENT_BYTES[dtype];
  }

  view(layer: number, slot: number): KVView {
    return this.views[layer][slot];
  }


  /** Where position `pos` of a sequence's keys (or values) of one layer starts: (L, B, P, C) order. */
  private rowOffset(layer: number, slot: number, pos: number): number {
    return ((layer * this.batchSize + slot) * this.maxPositions + pos) * this.rowWidth;
  }
}
