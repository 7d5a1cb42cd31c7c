import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StaticKVCache } from "../src/engine/static-cache.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import type { ModelShape } from "../src/model/shape.js";
import type { KVArray } from "../src/kernels/backend.js";
import { f32ToF16 } from "../src/numeric/half.js";
import { userErrorMatching } from "./helpers.js";

/** Elements whose bits are not all zero (so -0 counts for halves). */
function nonzero(a: KVArray): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a instanceof Uint16Array ? a[i] !== 0 : !Object.is(a[i], 0)) n++;
  return n;
}

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
    assert.equal(nonzero(cache.k), 4, "only that row of k is written");
    assert.equal(nonzero(cache.v), 4, "only that row of v is written");
    const view = cache.view(1, 2);
    assert.deepEqual([...view.blockTable], [2]);
    assert.equal(view.blockSize, 8);
    assert.equal(view, cache.view(1, 2), "views are made once");
  });

  it("f16: stores each row's halves, rounded to nearest even, in the same places", () => {
    const cache = new StaticKVCache(shape, createReferenceBackend(), 3, shape.contextLength, "f16");
    assert.ok(cache.k instanceof Uint16Array && cache.v instanceof Uint16Array);
    assert.equal(StaticKVCache.bytes(shape, 3, 8, "f16") * 2, StaticKVCache.bytes(shape, 3, 8, "f32"));
    assert.equal(StaticKVCache.bytes(shape, 3, 8, "f16"), cache.k.byteLength + cache.v.byteLength);
    // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: to even, 1. 1 + 3·2^-11 rounds up to 1 + 2^-9.
    // 65519 rounds down to the largest half; 2^-20 is a subnormal half; -0 keeps its sign.
    const k = Float32Array.of(1 + 2 ** -11, 1 + 3 * 2 ** -11, 65519, 2 ** -20);
    const v = Float32Array.of(-0, -1.5, 65504, -(2 ** -24));
    cache.update(0, 1, 3, 1, k, 0, v, 0, 4);
    const at = ((0 * 3 + 1) * 8 + 3) * 4;
    assert.deepEqual([...cache.k.subarray(at, at + 4)], [0x3c00, 0x3c02, 0x7bff, 0x0010]);
    assert.deepEqual([...cache.v.subarray(at, at + 4)], [0x8000, 0xbe00, 0x7bff, 0x8001]);
    assert.deepEqual([...k].map(f32ToF16), [0x3c00, 0x3c02, 0x7bff, 0x0010], "the same rounding as numeric/half.ts");
    assert.equal(nonzero(cache.k), 4);
    assert.equal(nonzero(cache.v), 4, "-0 is stored as its own bits");
  });

  it("f16: refuses a key or value no half holds, naming it and the way out", () => {
    const cache = new StaticKVCache(shape, createReferenceBackend(), 1, shape.contextLength, "f16");
    for (const bad of [65520, -1e6, Infinity, NaN]) {
      const k = Float32Array.of(1, 2, bad, 3);
      assert.throws(() => cache.update(0, 0, 0, 1, k, 0, Float32Array.of(1, 2, 3, 4), 0, 4), userErrorMatching(new RegExp(`^a key or value of ${bad} is beyond the f16 KV cache \\(finite halves, \\|x\\| < 65520\\): use the f32 KV cache \\(--kv-dtype f32\\)$`)));
    }
  });

  it("refuses positions beyond its length", () => {
    const cache = new StaticKVCache(shape, createReferenceBackend(), 1);
    assert.throws(() => cache.update(0, 0, 7, 2, new Float32Array(24), 4, new Float32Array(24), 8, 12), /position 9 beyond 8/);
  });
});
