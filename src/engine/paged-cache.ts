import { KV_ELEMENT_BYTES, type Backend, type KVArray, type KVDType, type KVView } from "../kernels/backend.js";
import { copyToKV } from "../model/copy.js";
import type { KVCache } from "../model/kv-cache.js";
import { kvWidth, type ModelShape } from "../model/shape.js";
import { BlockTable } from "./block-manager.js";

/**
 * The paged KV cache (vLLM's PagedAttention): one pool of fixed-size blocks per layer, shaped
 * (layers, num_blocks, block_size, n_kv_head, head_dim) and allocated once, plus one block table
 * per batch slot saying which pool blocks hold that sequence's positions. Memory is spent per
 * block actually used, not per sequence at full context. BlockManager decides the tables.
 * Elements are f32 or halves (`dtype`), rounded as they are stored.
 */
export class PagedKVCache implements KVCache {
  readonly k: KVArray; // (L, numBlocks, blockSize, nkv · hs)
  readonly v: KVArray;
  readonly tables: BlockTable[]; // [slot]
  readonly maxBlocksPerSequence: number;
  private readonly views: KVView[][]; // [layer][slot], made once so the hot path allocates nothing
  private readonly width: number; // nkv · hs floats per position
  private readonly layerFloats: number;

  constructor(
    shape: ModelShape,
    backend: Backend,
    readonly numBlocks: number,
    readonly blockSize: number,
    readonly numSlots: number,
    maxPositions: number = shape.contextLength,
    readonly dtype: KVDType = "f32",
  ) {
    const { nLayer: L } = shape;
    const C = kvWidth(shape);
    this.width = C;
    this.layerFloats = numBlocks * blockSize * C;
    this.maxBlocksPerSequence = Math.ceil(maxPositions / blockSize);
    const alloc = (n: number): KVArray => (dtype === "f16" ? backend.allocU16(n) : backend.allocF32(n));
    this.k = alloc(L * this.layerFloats);
    this.v = alloc(L * this.layerFloats);
    // The tables live in the backend's memory too, so a wasm kernel reads them without a copy.
    const raw = backend.allocF32(numSlots * this.maxBlocksPerSequence);
    const ids = new Int32Array(raw.buffer, raw.byteOffset, raw.length);
    this.tables = Array.from(
      { length: numSlots },
      (_, s) => new BlockTable(ids.subarray(s * this.maxBlocksPerSequence, (s + 1) * this.maxBlocksPerSequence)),
    );
    this.views = [];
    for (let l = 0; l < L; l++) {
      const k = this.k.subarray(l * this.layerFloats, (l + 1) * this.layerFloats);
      const v = this.v.subarray(l * this.layerFloats, (l + 1) * this.layerFloats);
      this.views.push(this.tables.map((t) => ({ k, v, blockTable: t.ids, blockSize })));
    }
  }

  static bytesPerBlock(shape: ModelShape, blockSize: number, dtype: KVDType): number {
    return 2 * shape.nLayer * blockSize * kvWidth(shape) * KV_ELEMENT_BYTES[dtype];
  }

  update(layer: number, slot: number, pos: number, t: number, k: Float32Array, kAt: number, v: Float32Array, vAt: number, stride: number): void {
    const { width: C, blockSize: bs } = this;
    const table = this.tables[slot];
    const base = layer * this.layerFloats;
    for (let i = 0; i < t; i++) {
      const p = pos + i;
      const blockIndex = Math.floor(p / bs);
      if (blockIndex >= table.length) throw new Error(`PagedKVCache: position ${p} of slot ${slot} has no block`);
      const offset = base + (table.ids[blockIndex] * bs + (p % bs)) * C;
      copyToKV(this.k, offset, k, kAt + i * stride, C);
      copyToKV(this.v, offset, v, vAt + i * stride, C);
    }
  }

  view(layer: number, slot: number): KVView {
    return this.views[layer][slot];
  }
}
