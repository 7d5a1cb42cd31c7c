import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { fixtures, defaultModelDir } from "./paths.js";
import { maxAbsDiff, readGolden } from "./helpers.js";

describe("default model (shakespeare-byte-gpt2) matches Hugging Face", () => {
  let llm: LLM;
  const { golden, tensors } = readGolden(path.join(fixtures, "shakespeare-byte-gpt2"));
  before(async () => {
    llm = await LLM.load(defaultModelDir, { backend: "reference", maxBatch: 3 });
  });
  after(() => llm.close());

  it("greedy 64 tokens after each golden prompt", () => {
    for (const p of golden.prompts) {
      const [r] = llm.generateBatch([p.ids], { temperature: 0, maxTokens: golden.n_new, ignoreEos: true });
      assert.deepEqual(r.tokens, p.greedy);
    }
    assert.deepEqual(llm.tokenize("ROMEO:"), golden.prompts[0].ids);
  });

  it("last logits within 1e-4", () => {
    golden.prompts.forEach((p, i) => {
      llm.forEachPositionLogits(p.ids, (pos, logits) => {
        if (pos === p.ids.length - 1) assert.ok(maxAbsDiff(logits, tensors.get(`last_logits_${i}`) ?? []) < 1e-4);
      });
    });
  });

  it("perplexity on the 40 golden validation windows", () => {
    const ids = llm.tokenize(fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8"));
    assert.equal(ids.length, 40 * 256);
    const r = llm.perplexity(ids, 256);
    assert.equal(r.predictions, 40 * 255);
    assert.ok(Math.abs(r.nll - (golden.val_loss_f32_first_40_windows ?? NaN)) < 1e-3, `nll ${r.nll}`);
  });

  it("a batch of 3 prompts of different lengths equals each prompt alone", () => {
    const prompts = ["ROMEO:", "First Citizen:\nBefore we proceed", "O"];
    for (const temperature of [0, 0.9]) {
      const params = { temperature, maxTokens: 40, seed: 7, ignoreEos: true };
      const batched = llm.generateBatch(prompts, params);
      prompts.forEach((p, i) => {
        const [alone] = llm.generateBatch([p], params);
        assert.deepEqual(batched[i].tokens, alone.tokens, `prompt ${i} at temperature ${temperature}`);
        assert.equal(batched[i].text, alone.text);
      });
    }
  });

  it("a fixed seed gives the same sampled text twice, another seed another text", () => {
    const params = { temperature: 1, topK: 40, topP: 0.95, minP: 0.01, maxTokens: 60, ignoreEos: true };
    const a = llm.generateBatch(["JULIET:"], { ...params, seed: 123 })[0];
    const b = llm.generateBatch(["JULIET:"], { ...params, seed: 123 })[0];
    const c = llm.generateBatch(["JULIET:"], { ...params, seed: 124 })[0];
    assert.equal(a.text, b.text);
    assert.notEqual(a.text, c.text);
  });

  it("streams text pieces whose concatenation is the result", async () => {
    const generation = llm.generate("KING:", { temperature: 0, maxTokens: 30 });
    let streamed = "";
    for await (const piece of generation) streamed += piece;
    const r = await generation.result;
    assert.equal(streamed, r.text);
    assert.equal(r.tokens.length, 30);
    assert.equal(r.finishReason, "length");
  });

  it("stops before a stop string and does not return it", () => {
    const full = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 64 })[0].text;
    const stop = "will";
    assert.ok(full.includes(stop));
    const r = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 64, stop: [stop] })[0];
    assert.equal(r.text, full.slice(0, full.indexOf(stop)));
    assert.equal(r.finishReason, "stop");
  });

  it("penalties change greedy output away from repeats", () => {
    const plain = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 64 })[0].tokens;
    const penalised = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 64, repetitionPenalty: 1.5 })[0].tokens;
    const freq = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 64, frequencyPenalty: 1.5, presencePenalty: 0.5 })[0].tokens;
    assert.notDeepEqual(penalised, plain);
    assert.notDeepEqual(freq, plain);
    assert.ok(new Set(penalised).size >= new Set(plain).size);
  });

  it("top_k 1 equals greedy", () => {
    const greedy = llm.generateBatch(["ROMEO:"], { temperature: 0, maxTokens: 30 })[0].tokens;
    const topk1 = llm.generateBatch(["ROMEO:"], { temperature: 1.3, topK: 1, maxTokens: 30, seed: 5 })[0].tokens;
    assert.deepEqual(topk1, greedy);
  });
});

for (const threads of [1, 2]) {
  describe(`default model on the wasm backend, ${threads} thread(s)`, () => {
    const { golden } = readGolden(path.join(fixtures, "shakespeare-byte-gpt2"));
    let llm: LLM;
    before(async () => {
      llm = await LLM.load(defaultModelDir, { backend: "wasm", threads, maxBatch: 3 });
    });
    after(() => llm.close());

    it("greedy goldens, batched and alone", () => {
      const batched = llm.generateBatch(golden.prompts.map((p) => p.ids), { temperature: 0, maxTokens: golden.n_new, ignoreEos: true });
      golden.prompts.forEach((p, i) => assert.deepEqual(batched[i].tokens, p.greedy));
    });

    it("perplexity on the 40 golden windows", () => {
      const ids = llm.tokenize(fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8"));
      assert.ok(Math.abs(llm.perplexity(ids, 256).nll - (golden.val_loss_f32_first_40_windows ?? NaN)) < 1e-3);
    });

    it("f16 weights (the checkpoint's own halves) give the f32 run's perplexity and goldens, bit for bit", async () => {
      const f16 = await LLM.load(defaultModelDir, { backend: "wasm", threads, dtype: "f16", maxBatch: 3 });
      try {
        assert.ok(f16.model.decodeWeightArrays().every((a) => a instanceof Uint16Array), "every matrix is stored as halves");
        const ids = f16.tokenize(fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8"));
        assert.equal(f16.perplexity(ids, 256).nll, llm.perplexity(ids, 256).nll);
        const batched = f16.generateBatch(golden.prompts.map((p) => p.ids), { temperature: 0, maxTokens: golden.n_new, ignoreEos: true });
        golden.prompts.forEach((p, i) => assert.deepEqual(batched[i].tokens, p.greedy));
      } finally {
        f16.close();
      }
    });

    it("an f16 KV cache: the goldens' greedy tokens, logits within 5e-3 of the f32 cache's, perplexity within 1e-4", async () => {
      // Measured: greedy tokens equal on all three goldens, the largest logit difference over every
      // position of prompt and continuation 1.2e-3, the mean nll of the 40 windows 6e-7 lower.
      const f16 = await LLM.load(defaultModelDir, { backend: "wasm", threads, kvDtype: "f16", maxBatch: 3 });
      try {
        const batched = f16.generateBatch(golden.prompts.map((p) => p.ids), { temperature: 0, maxTokens: golden.n_new, ignoreEos: true });
        golden.prompts.forEach((p, i) => assert.deepEqual(batched[i].tokens, p.greedy, `golden ${i}`));
        for (const p of golden.prompts) {
          const ids = [...p.ids, ...p.greedy];
          const want: Float32Array[] = [];
          llm.forEachPositionLogits(ids, (_, logits) => want.push(logits.slice()));
          f16.forEachPositionLogits(ids, (pos, logits) => {
            const diff = maxAbsDiff(logits, want[pos]);
            assert.ok(diff < 5e-3, `position ${pos}: logits differ by ${diff}`);
          });
        }
        const ids = f16.tokenize(fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8"));
        const nll = f16.perplexity(ids, 256).nll, f32Nll = llm.perplexity(ids, 256).nll;
        assert.ok(Math.abs(nll - f32Nll) < 1e-4, `nll ${nll} with the f16 cache, ${f32Nll} with f32`);
        assert.ok(Math.abs(nll - (golden.val_loss_f32_first_40_windows ?? NaN)) < 1e-3);
      } finally {
        f16.close();
      }
    });

    it("q8 weights raise perplexity on the golden windows by less than 1%", async () => {
      const q8 = await LLM.load(defaultModelDir, { backend: "wasm", threads, dtype: "q8" });
      try {
        const ids = q8.tokenize(fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8"));
        const f32Ppl = Math.exp(golden.val_loss_f32_first_40_windows ?? NaN);
        const { ppl } = q8.perplexity(ids, 256);
        assert.ok(ppl < f32Ppl * 1.01, `q8 ppl ${ppl} vs f32 ${f32Ppl}`);
      } finally {
        q8.close();
      }
    });

    it("a batch of 3 prompts of different lengths gives exactly each prompt's tokens and logits alone", async () => {
      // Through the serving engine, whose small step budget cuts the prompts into prefill chunks
      // that share steps with the others' decoding (alone, into other chunks). Log-probabilities
      // of the whole vocabulary are the logits less one log-sum-exp: equal means equal logits.
      const engine = await LLMEngine.load(defaultModelDir, { backend: "wasm", threads, maxBatch: 3, maxStepTokens: 8 });
      try {
        const vocab = engine.shape.vocabSize;
        const prompts = ["ROMEO:", "First Citizen:\nBefore we proceed any further, hear me speak.", "O"].map((p) => engine.tokenizer.encode(p));
        for (const temperature of [0, 0.9]) {
          const params = resolveSamplingParams({ temperature, maxTokens: 24, seed: 7, ignoreEos: true });
          const run = (ids: number[]) => engine.add({ promptIds: ids, params, logprobs: vocab, promptLogprobs: vocab }).result;
          const batched = await Promise.all(prompts.map(run));
          for (const [i, ids] of prompts.entries()) {
            const alone = await run(ids);
            const what = `prompt ${i} at temperature ${temperature}`;
            assert.deepEqual(batched[i].tokenIds, alone.tokenIds, what);
            assert.deepEqual(batched[i].logprobs, alone.logprobs, what);
            assert.deepEqual(batched[i].promptLogprobs, alone.promptLogprobs, what);
          }
        }
      } finally {
        engine.close();
      }
    });
  });
}
