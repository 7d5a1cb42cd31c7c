import type { Backend, KVView } from "../kernels/backend.js";
import type { GPT2Config } from "../model/config.js";
import { copyFloats } from "../model/copy.js";
import type { KVCache } from "../model/kv-cache.js";
import { BlockTable } from "./block-manager.js";

/**
 * The paged KV cache (vLLM's PagedAttention): one pool of fixed-size blocks per layer, shaped
 * (layers, num_blocks, block_size, n_head, head_dim) and allocated once, plus one block table
 * per batch slot saying which pool blocks hold that sequence's positions. Memory is spent per
 * block actually used, not per sequence at full context. BlockManager decides the tables.
 */
export class PagedKVCache implements KVCache {
  readonly k: Float32Array; // (L, numBlocks, blockSize, C)
  readonly v: Float32Array;
  readonly tables: BlockTable[]; // [slot]
  readonly maxBlocksPerSequence: number;
  private readonly views: KVView[][]; // [layer][slot], made once so the hot path allocates nothing
  private readonly width: number; // C floats per position
  private readonly layerFloats: number;

  constructor(
    config: GPT2Config,
    backend: Backend,
    readonly numBlocks: number,
    readonly blockSize: number,
    readonly numSlots: number,
    maxPositions: number = config.nPositions,
  ) {
    const { nLayer: L, nEmbd: C } = config;
    this.width = C;
    this.layerFloats = numBlocks * blockSize * C;
    this.maxBlocksPerSequence = Math.ceil(maxPositions / blockSize);
    this.k = backend.allocF32(L * this.layerFloats);
    this.v = backend.allocF32(L * this.layerFloats);
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

  /** Blocks that fit in `bytes` of keys and values. */
  static blocksInBytes(config: GPT2Config, blockSize: number, bytes: number): number {
    return Math.floor(bytes / PagedKVCache.bytesPerBlock(config, blockSize));
  }

  static bytesPerBlock(config: GPT2Config, blockSize: number): number {
    return 2 * config.nLayer * blockSize * config.nEmbd * Float32Array.BYTES_PER_ELEMENT;
  }

  update(layer: number, slot: number, pos: number, src: Float32Array, kAt: number, vAt: number, stride: number, t: number): void {
    const { width: C, blockSize: bs } = this;
    const table = this.tables[slot];
    const base = layer * this.layerFloats;
    for (let i = 0; i < t; i++) {
      const p = pos + i;
      const blockIndex = Math.floor(p / bs);
      if (blockIndex >= table.length) throw new Error(`PagedKVCache: position ${p} of slot ${slot} has no block`);
      const offset = base + (table.ids[blockIndex] * bs + (p % bs)) * C;
      copyFloats(this.k, offset, src, kAt + i * stride, C);
      copyFloats(this.v, offset, src, vAt + i * stride, C);
    }
  }

  view(layer: number, slot: number): KVView {
    return this.views[layer][slot];
  }
}
