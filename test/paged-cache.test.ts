import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { LLM, logSoftmaxAt } from "../src/engine/llm.js";
import { LLMEngine, type EngineOptions } from "../src/engine/llm-engine.js";
import { tokenLogprobs, type TokenLogprobs } from "../src/engine/logprobs.js";
import { rejectsWith } from "./helpers.js";
import { PagedKVCache } from "../src/engine/paged-cache.js";
import { resolveSamplingParams, type SamplingParams } from "../src/engine/sampling-params.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import type { ModelShape } from "../src/model/shape.js";
import { defaultModelDir } from "./paths.js";

const params = (p: Partial<SamplingParams>): SamplingParams => resolveSamplingParams({ ignoreEos: true, ...p });

/** Prompts of many lengths, some sharing long prefixes. */
function prompts(count: number): string[] {
  const lines = ["ROMEO:", "JULIET:\nO Romeo, Romeo", "First Citizen:\nBefore we proceed any further, hear me speak.", "KING RICHARD III:"];
  return Array.from({ length: count }, (_, i) => lines[i % lines.length] + " and".repeat(i % 5) + "\n".repeat(i % 3));
}

describe("PagedKVCache", () => {
  it("writes each position into its block of the pool, per layer", () => {
    const shape: ModelShape = { nLayer: 2, nHead: 2, nKVHead: 2, headDim: 2, vocabSize: 10, contextLength: 16 };
    const cache = new PagedKVCache(shape, createReferenceBackend(), 6, 4, 2);
    const table = cache.tables[1];
    table.ids.set([5, 2, 0]);
    table.length = 3;
    // Three rows of a fused qkv (3, 3C): q = 0, k = 1..12 row after row, v = -k.
    const qkv = new Float32Array(3 * 12);
    for (let i = 0; i < 3; i++) for (let c = 0; c < 4; c++) {
      qkv[i * 12 + 4 + c] = i * 4 + c + 1;
      qkv[i * 12 + 8 + c] = -(i * 4 + c + 1);
    }
    cache.update(1, 1, 3, 3, qkv, 4, qkv, 8, 12); // positions 3, 4, 5: last row of block 5, first two of block 2
    const layer = 6 * 4 * 4;
    const at = (block: number, row: number): number => layer + (block * 4 + row) * 4;
    assert.deepEqual([...cache.k.subarray(at(5, 3), at(5, 3) + 4)], [1, 2, 3, 4]);
    assert.deepEqual([...cache.k.subarray(at(2, 0), at(2, 0) + 8)], [5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual([...cache.v.subarray(at(2, 1), at(2, 1) + 4)], [-9, -10, -11, -12]);
    const view = cache.view(1, 1);
    assert.equal(view.blockTable, table.ids);
    assert.equal(view.blockSize, 4);
    assert.equal(view, cache.view(1, 1), "views are made once");
    assert.throws(() => cache.update(0, 1, 12, 1, qkv, 4, qkv, 8, 12), /no block/);
  });
});

describe("LLMEngine over the paged cache (reference backend, default model)", () => {
  let llm: LLM;
  before(async () => {
    llm = await LLM.load(defaultModelDir, { backend: "reference", maxBatch: 1 });
  });
  after(() => llm.close());

  const solo = (prompt: string | readonly number[], p: SamplingParams): string => llm.generateBatch([prompt], p)[0].text;

  it("greedy results equal solo static-cache runs, through chunked prefill and preemption; every block is freed", async () => {
    // 30 blocks of 16 = 480 positions for 12 sequences of up to ~110: the pool runs out.
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 12, numBlocks: 30, maxStepTokens: 48 });
    try {
      const ps = prompts(12);
      const p = params({ temperature: 0, maxTokens: 50 });
      const results = await Promise.all(ps.map((text) => engine.generate(text, p)));
      const stats = engine.stats();
      assert.ok(stats.preemptions > 0, "the small pool forces preemption");
      ps.forEach((text, i) => assert.equal(results[i].text, solo(text, p), `prompt ${i}`));
      assert.equal(stats.blocks.usedBlocks, 0);
      assert.equal(stats.running + stats.waiting, 0);
    } finally {
      engine.close();
    }
  });

  it("seeded sampling gives the solo result whatever runs alongside", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 8 });
    try {
      const p = params({ temperature: 1, topK: 40, topP: 0.95, maxTokens: 40, seed: 11 });
      const others = prompts(6).map((text, i) => engine.generate(text, params({ temperature: 0.8, maxTokens: 20 + i })));
      const mine = await engine.generate("JULIET:", p);
      await Promise.all(others);
      assert.equal(mine.text, solo("JULIET:", p));
    } finally {
      engine.close();
    }
  });

  it("a repeated prefix is found in the prefix cache, skips its prefill and changes nothing", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 4 });
    try {
      const shared = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n";
      const p = params({ temperature: 0, maxTokens: 20 });
      const first = await engine.generate(shared + "First Citizen:", p);
      assert.equal(first.cachedTokens, 0);
      const second = await engine.generate(shared + "Second Citizen:", p);
      assert.ok(second.cachedTokens >= 64, `cached ${second.cachedTokens}`);
      assert.equal(second.text, solo(shared + "Second Citizen:", p));
      const s = engine.stats().blocks;
      assert.equal(s.prefixHitTokens, second.cachedTokens);
    } finally {
      engine.close();
    }
  });

  it("reports logprobs of the raw logits, for generated and prompt tokens", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 2 });
    try {
      const ids = llm.tokenize("ROMEO:\nI will");
      const r = await engine.add({ promptIds: ids, params: params({ temperature: 0, maxTokens: 3 }), logprobs: 3, promptLogprobs: 2 }).result;
      const expected: number[] = [];
      const all = [...ids, ...r.tokenIds];
      llm.forEachPositionLogits(all.slice(0, -1), (pos, logits) => expected.push(logSoftmaxAt(logits, all[pos + 1])));
      const got = [...(r.promptLogprobs ?? []), ...(r.logprobs ?? [])];
      assert.equal(got.length, expected.length);
      got.forEach((e, i) => assert.ok(Math.abs(e.logprob - expected[i]) < 1e-4, `token ${i}: ${e.logprob} vs ${expected[i]}`));
      for (const e of r.logprobs ?? []) {
        assert.equal(e.top.length, 3);
        assert.equal(e.top[0].id, e.id, "greedy picks the most likely token");
        assert.ok(e.top[0].logprob >= e.top[1].logprob && e.top[1].logprob >= e.top[2].logprob);
      }
      assert.equal(r.promptLogprobs?.[0].top.length, 2);
    } finally {
      engine.close();
    }
  });

  it("refuses what can never fit, with the numbers", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 2, numBlocks: 4 });
    try {
      assert.throws(() => engine.validate([1, 2, 3], 300), /prompt \(3 tokens\) \+ max_tokens \(300\) = 303 exceeds the context of 256 tokens/);
      assert.throws(() => engine.validate([1, 2, 3], 100), /needs 102 KV positions \(7 blocks of 16\) but the KV pool has 4 blocks/);
      assert.throws(() => engine.validate([], 1), /empty/);
      assert.throws(() => engine.validate([300], 1), /outside the vocabulary/);
      engine.validate([1, 2, 3], 62);
    } finally {
      engine.close();
    }
  });
});

describe("f16 KV cache", () => {
  it("the paged cache gives the static cache's tokens and logprobs, bit for bit, through batching and chunked prefill", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "wasm", threads: 2, maxBatch: 3, maxStepTokens: 8, kvDtype: "f16" });
    const llm = await LLM.load(defaultModelDir, { backend: "wasm", threads: 2, maxBatch: 1, kvDtype: "f16" });
    try {
      assert.ok(engine.cache.k instanceof Uint16Array && engine.cache.v instanceof Uint16Array);
      const vocab = engine.shape.vocabSize;
      const ps = prompts(3).map((p) => engine.tokenizer.encode(p));
      const results = await Promise.all(ps.map((ids) => engine.add({ promptIds: ids, params: params({ temperature: 0, maxTokens: 20 }), logprobs: vocab, promptLogprobs: vocab }).result));
      ps.forEach((ids, i) => {
        const r = results[i];
        assert.deepEqual(r.tokenIds, llm.generateBatch([ids], params({ temperature: 0, maxTokens: 20 }))[0].tokens, `prompt ${i}`);
        const all = [...ids, ...r.tokenIds];
        const want: TokenLogprobs[] = [];
        llm.forEachPositionLogits(all.slice(0, -1), (pos, logits) => want.push(tokenLogprobs(logits, all[pos + 1], vocab)));
        assert.deepEqual([...(r.promptLogprobs ?? []), ...(r.logprobs ?? [])], want, `prompt ${i}: logprobs`);
      });
    } finally {
      engine.close();
      llm.close();
    }
  });

  it("holds twice the blocks in the same KV memory, and a bad kvDtype is refused", async () => {
    const f32 = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 2, kvMemoryMB: 3 });
    const f16 = await LLMEngine.load(defaultModelDir, { backend: "reference", maxBatch: 2, kvMemoryMB: 3, kvDtype: "f16" });
    try {
      assert.equal(f16.blocks.numBlocks, 2 * f32.blocks.numBlocks);
      assert.equal(f16.cache.k.byteLength, f32.cache.k.byteLength);
    } finally {
      f32.close();
      f16.close();
    }
    // What a JavaScript caller could pass.
    const bad: EngineOptions = JSON.parse('{"kvDtype": "q8"}');
    await rejectsWith(LLMEngine.load(defaultModelDir, { backend: "reference", ...bad }), /^invalid kvDtype "q8": must be one of f32, f16$/);
    await rejectsWith(LLM.load(defaultModelDir, { backend: "reference", ...bad }), /^invalid kvDtype "q8": must be one of f32, f16$/);
  });
});

describe("LLMEngine on the wasm backend", () => {
  it("reads block tables kept in wasm memory and matches the static cache on a solo request", async () => {
    const engine = await LLMEngine.load(defaultModelDir, { backend: "wasm", threads: 2, maxBatch: 2, numBlocks: 32 });
    const llm = await LLM.load(defaultModelDir, { backend: "wasm", threads: 2, maxBatch: 1 });
    try {
      const p = params({ temperature: 0, maxTokens: 60 });
      const r = await engine.generate("ROMEO:", p);
      assert.equal(r.text, llm.generateBatch(["ROMEO:"], p)[0].text);
    } finally {
      engine.close();
      llm.close();
    }
  });
});
