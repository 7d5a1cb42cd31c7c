import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { fixtures, defaultModelDir, repoRoot } from "./paths.js";
import { maxAbsDiff, readGolden } from "./helpers.js";

const windows = () => fs.readFileSync(path.join(fixtures, "shakespeare-val-40x256.txt"), "utf8");

// 4-bit weights (Q4_0: 16 levels and one scale per 32) cost more accuracy than q8's 255 levels.
// Measured on the default model: perplexity on the 40 golden windows +0.74 % (q8: +0.015 %),
// last-position logits within 0.79 of Hugging Face's f32 (q8: 0.09) against logits up to ±13.5;
// on gpt2-tiny-random within 0.43 (q8: 0.04) of logits up to ±2.2. The stated bounds:
const Q4_PPL_RATIO = 1.02;
const Q4_LOGIT_TOLERANCE = { "shakespeare-byte-gpt2": 1.0, "gpt2-tiny-random": 0.6 };

for (const threads of [1, 2]) {
  describe(`default model with q4 weights, wasm, ${threads} thread(s)`, () => {
    const { golden } = readGolden(path.join(fixtures, "shakespeare-byte-gpt2"));
    let q4: LLM;
    before(async () => {
      q4 = await LLM.load(defaultModelDir, { backend: "wasm", threads, dtype: "q4", maxBatch: 3 });
    });
    after(() => q4.close());

    it(`raises perplexity on the 40 golden windows by less than ${Math.round((Q4_PPL_RATIO - 1) * 100)} %`, () => {
      assert.equal(q4.dtype, "q4");
      const ids = q4.tokenize(windows());
      const f32Ppl = Math.exp(golden.val_loss_f32_first_40_windows ?? NaN);
      const { ppl } = q4.perplexity(ids, 256);
      assert.ok(ppl < f32Ppl * Q4_PPL_RATIO, `q4 ppl ${ppl} vs f32 ${f32Ppl}`);
      // Not a free lunch: a q4 run that matched f32 would mean the weights were not quantized.
      assert.ok(ppl > f32Ppl, `q4 ppl ${ppl} vs f32 ${f32Ppl}`);
    });

    it("stores the matrices in half a byte per weight plus a scale per 32", async () => {
      const q8 = await LLM.load(defaultModelDir, { backend: "wasm", threads, dtype: "q8" });
      try {
        const bytes = (llm: LLM) => llm.model.decodeWeightArrays().reduce((a, w) => a + w.byteLength, 0);
        // Matrices shrink from 1 + 1/8 to 1/2 + 1/8 bytes per weight; the f32 norms and biases stay.
        const ratio = bytes(q4) / bytes(q8);
        assert.ok(ratio > 0.5 && ratio < 0.6, `q4 / q8 bytes read per token: ${ratio}`);
      } finally {
        q8.close();
      }
    });

    it("a batch of prompts gives each prompt's greedy tokens alone", () => {
      const prompts = golden.prompts.map((p) => p.ids);
      const params = { temperature: 0, maxTokens: 24, ignoreEos: true };
      const batched = q4.generateBatch(prompts, params);
      prompts.forEach((ids, i) => assert.deepEqual(batched[i].tokens, q4.generateBatch([ids], params)[0].tokens, `prompt ${i}`));
    });
  });
}

describe("q4 logits against Hugging Face's f32", () => {
  for (const name of ["shakespeare-byte-gpt2", "gpt2-tiny-random"] as const) {
    const dir = name === "shakespeare-byte-gpt2" ? defaultModelDir : path.join(fixtures, name);
    for (const backend of ["reference", "wasm"] as const) {
      it(`${name}, ${backend}: last-position logits within ${Q4_LOGIT_TOLERANCE[name]}`, async () => {
        const { golden, tensors } = readGolden(path.join(fixtures, name));
        const llm = await LLM.load(dir, { backend, threads: 1, dtype: "q4" });
        try {
          golden.prompts.forEach((p, i) => {
            llm.forEachPositionLogits(p.ids, (pos, logits) => {
              if (pos !== p.ids.length - 1) return;
              const diff = maxAbsDiff(logits, tensors.get(`last_logits_${i}`) ?? []);
              assert.ok(diff < Q4_LOGIT_TOLERANCE[name], `prompt ${i}: max |Δlogit| = ${diff}`);
            });
          });
        } finally {
          llm.close();
        }
      });
    }
  }
});

describe("a Q4_0 GGUF file", () => {
  let work: string;
  let file: string;
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-q4-"));
    file = path.join(work, "shakespeare-q4_0.gguf");
    await convertCommand({ model: defaultModelDir, to: "gguf", dtype: "q4_0", out: file, quiet: true });
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("the CLI: --dtype q4 is accepted and reported, and a Q4_0 file without --dtype runs as stored", () => {
    const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
    const bench = (...args: string[]) => spawnSync(process.execPath, [cli, "bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "0", "--threads", "1", "--json", ...args], { encoding: "utf8" });
    for (const [args, want] of [[["--dtype", "q4"], "q4"], [["--model", file], "as stored"], [["--model", file, "--dtype", "q8"], "q8"]] as const) {
      const r = bench(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout.trim().split("\n").pop() ?? "").dtype, want, args.join(" "));
    }
  });

  it("loads its Q4_0 matrices as q4 when no dtype is asked for, and as asked otherwise", async () => {
    const auto = await LLM.load(file, { backend: "wasm", threads: 1 });
    const q4 = await LLM.load(file, { backend: "wasm", threads: 1, dtype: "q4" });
    const f32 = await LLM.load(file, { backend: "wasm", threads: 1, dtype: "f32" });
    try {
      assert.equal(auto.dtype, null);
      assert.equal(f32.dtype, "f32");
      // Every matrix of this file is Q4_0: stored as it is, the logits are the q4 load's bits.
      const ids = [5, 9, 17, 3, 30, 11];
      const want: Float32Array[] = [];
      q4.forEachPositionLogits(ids, (_, logits) => want.push(logits.slice()));
      auto.forEachPositionLogits(ids, (pos, logits) => assert.deepEqual(logits, want[pos], `position ${pos}`));
    } finally {
      auto.close();
      q4.close();
      f32.close();
    }
  });

  it("kept as it is: q4 gives the logits of the same blocks widened to q8 (the same integer sums)", async () => {
    const { golden } = readGolden(path.join(fixtures, "shakespeare-byte-gpt2"));
    // The baseline build: it rounds x to 8 bits for both kinds, where the relaxed build rounds q8's to 7.
    const q4 = await LLM.load(file, { backend: "wasm", threads: 2, dtype: "q4", simd: "baseline" });
    const q8 = await LLM.load(file, { backend: "wasm", threads: 2, dtype: "q8", simd: "baseline" });
    try {
      for (const p of golden.prompts) {
        const a: Float32Array[] = [];
        q4.forEachPositionLogits(p.ids, (_, logits) => a.push(logits.slice()));
        q8.forEachPositionLogits(p.ids, (pos, logits) => assert.ok(maxAbsDiff(logits, a[pos]) < 1e-4, `position ${pos}: ${maxAbsDiff(logits, a[pos])}`));
      }
      // And the file's q4 model is as good as quantizing the f32 checkpoint at load.
      const ids = q4.tokenize(windows());
      const f32Ppl = Math.exp(golden.val_loss_f32_first_40_windows ?? NaN);
      assert.ok(q4.perplexity(ids, 256).ppl < f32Ppl * Q4_PPL_RATIO);
    } finally {
      q4.close();
      q8.close();
    }
  });
});
