import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StaticKVCache } from "../src/engine/static-cache.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import type { ModelShape } from "../src/model/shape.js";

describe("StaticKVCache", () => {
  const shape: ModelShape = { nLayer: 2, nHead: 2, nKVHead: 2, headDim: 2, vocabSize: 10, contextLength: 8 };

  it("writes rows of a fused qkv to (layer, slot, position) and nothing else", () => {
    const cache = new StaticKVCache(shape, createReferenceBackend(), 3);
    // Two rows of a fused qkv (2, 3C), the second being the one stored: k = 1..4, v = -k.
    const qkv = Float32Array.from({ length: 2 * 12 }, (_, i) => 100 + i);
    for (let c = 0; c < 4; c++) {
      qkv[12 + 4 + c] = c + 1;
      qkv[12 + 8 + c] = -(c + 1);
    }
    cache.update(1, 2, 5, 1, qkv, 12 + 4, qkv, 12 + 8, 12);
    const at = ((1 * 3 + 2) * 8 + 5) * 4; // (L, B, P, C)
    assert.deepEqual([...cache.k.subarray(at, at + 4)], [1, 2, 3, 4]);
    assert.deepEqual([...cache.v.subarray(at, at + 4)], [-1, -2, -3, -4]);
    assert.equal(cache.k.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0), 4, "only that row of k is written");
    assert.equal(cache.v.reduce((n, x) => n + (x !== 0 ? 1 : 0), 0), 4, "only that row of v is written");
    const view = cache.view(1, 2);
    assert.deepEqual([...view.blockTable], [2]);
    assert.equal(view.blockSize, 8);
    assert.equal(view, cache.view(1, 2), "views are made once");
  });

  it("refuses positions beyond its length", () => {
    const cache = new StaticKVCache(shape, createReferenceBackend(), 1);
    assert.throws(() => cache.update(0, 0, 7, 2, new Float32Array(24), 4, new Float32Array(24), 8, 12), /position 9 beyond 8/);
  });
});
