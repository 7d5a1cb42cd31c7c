import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { UserError } from "../src/errors.js";
import { LLM } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { PagedKVCache } from "../src/engine/paged-cache.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { readSafetensorsHeader, TensorReader } from "../src/io/safetensors.js";
import { inverseFrequencies, parseRopeConfig } from "../src/model/layers/rope.js";
import { f16ToF32, f32ToF16 } from "../src/numeric/half.js";
import { maxAbsDiff, readGolden } from "./helpers.js";
import { fixtures, repoRoot } from "./paths.js";

const dir = path.join(fixtures, "llama-tiny-random");
const { golden } = readGolden(dir);
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-llama-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

describe("llama-tiny-random (GQA 4/2) beyond the shared golden checks", () => {
  it("is read as the llama family with grouped-query attention, and has no tokenizer", async () => {
    const llm = await LLM.load(dir, { backend: "reference" });
    try {
      assert.equal(llm.model.family, "llama");
      assert.deepEqual(llm.shape, { nLayer: 2, nHead: 4, nKVHead: 2, headDim: 16, vocabSize: 1000, contextLength: 128 });
      assert.throws(() => llm.tokenize("hello"), /has no tokenizer: give the prompt as token ids/);
      const [r] = llm.generateBatch([golden.prompts[0].ids], { temperature: 0, maxTokens: 4, ignoreEos: true });
      assert.equal(r.text, "", "no text without a tokenizer");
    } finally {
      llm.close();
    }
  });

  it("a batch of mixed prompts equals each prompt alone, on the static and the paged cache", async () => {
    const prompts = golden.prompts.map((p) => p.ids);
    const greedy = golden.prompts.map((p) => p.greedy);
    const params = { temperature: 0, maxTokens: golden.n_new, ignoreEos: true };
    const llm = await LLM.load(dir, { backend: "wasm", threads: 2, maxBatch: prompts.length });
    try {
      assert.deepEqual(llm.generateBatch(prompts, params).map((r) => r.tokens), greedy);
    } finally {
      llm.close();
    }
    const engine = await LLMEngine.load(dir, { backend: "wasm", threads: 2, maxBatch: prompts.length, maxStepTokens: 8, blockSize: 4 });
    try {
      const results = await Promise.all(prompts.map((ids) => engine.generate(ids, resolveSamplingParams(params))));
      assert.deepEqual(results.map((r) => r.tokenIds), greedy);
    } finally {
      engine.close();
    }
  });

  it("caches nKVHead · headDim floats per position: half of what 4 full heads would take", () => {
    const shape = { nLayer: 2, nHead: 4, nKVHead: 2, headDim: 16, vocabSize: 1000, contextLength: 128 };
    const blockSize = 16;
    // keys and values × layers × positions × (2 KV heads · 16) floats × 4 bytes
    assert.equal(PagedKVCache.bytesPerBlock(shape, blockSize, "f32"), 2 * 2 * blockSize * 2 * 16 * 4);
    assert.equal(PagedKVCache.bytesPerBlock({ ...shape, nKVHead: 4 }, blockSize, "f32"), 2 * PagedKVCache.bytesPerBlock(shape, blockSize, "f32"));
    // Halves: 2 bytes an element.
    assert.equal(PagedKVCache.bytesPerBlock(shape, blockSize, "f16"), 2 * 2 * blockSize * 2 * 16 * 2);
  });
});

/**
 * A copy of llama-tiny-random whose weights are rounded to F16 or BF16, stored as such (as
 * checkpoints ship) or, with `asF32`, as the same rounded values in F32.
 */
function halfCopy(dtype: "F16" | "BF16", asF32 = false): string {
  const out = path.join(tmpRoot, `half-${dtype}${asF32 ? "-as-f32" : ""}`);
  fs.mkdirSync(out, { recursive: true });
  fs.copyFileSync(path.join(dir, "config.json"), path.join(out, "config.json"));
  const reader = new TensorReader();
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const info of readSafetensorsHeader(path.join(dir, "model.safetensors"))) {
    const values = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
    reader.readF32(info, values);
    const bits = new Uint16Array(values.length);
    const f32Bits = new Uint32Array(values.buffer);
    // BF16: the top half of the f32 bits, rounded to nearest even.
    for (let i = 0; i < values.length; i++) bits[i] = dtype === "F16" ? f32ToF16(values[i]) : (f32Bits[i] + 0x7fff + ((f32Bits[i] >>> 16) & 1)) >>> 16;
    const rounded = Float32Array.from(bits, (b) => (dtype === "F16" ? f16ToF32(b) : new Float32Array(Uint32Array.of(b << 16).buffer)[0]));
    const data = asF32 ? Buffer.from(rounded.buffer) : Buffer.from(bits.buffer);
    header[info.name] = { dtype: asF32 ? "F32" : dtype, shape: info.shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
    parts.push(data);
  }
  reader.close();
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(out, "model.safetensors"), Buffer.concat([len, json, ...parts]));
  return out;
}

describe("llama-tiny-random stored as F16 and BF16", () => {
  const lastLogits = (llm: LLM, ids: readonly number[]): Float32Array => {
    let last = new Float32Array(0);
    llm.forEachPositionLogits(ids, (pos, logits) => {
      if (pos === ids.length - 1) last = logits.slice();
    });
    return last;
  };

  for (const dtype of ["F16", "BF16"] as const) {
    it(`${dtype}: widened at load, the logits equal those of the same values in F32 bit for bit${dtype === "F16" ? " (and kept as f16, too)" : ""}`, async () => {
      const half = await LLM.load(halfCopy(dtype), { backend: "wasm", threads: 2 });
      const same = await LLM.load(halfCopy(dtype, true), { backend: "wasm", threads: 2 });
      const kept = await LLM.load(halfCopy(dtype), { backend: "wasm", threads: 2, dtype: "f16" });
      const { tensors } = readGolden(dir);
      try {
        golden.prompts.forEach((p, i) => {
          const widened = lastLogits(half, p.ids);
          assert.deepEqual(widened, lastLogits(same, p.ids), `prompt ${i}`);
          // F16 weights kept as halves are exact; BF16 ones are not (a half has a smaller exponent range).
          if (dtype === "F16") assert.deepEqual(lastLogits(kept, p.ids), widened, `prompt ${i} kept as f16`);
          // Rounding the weights moves the logits, but only a little.
          assert.ok(maxAbsDiff(widened, tensors.get(`last_logits_${i}`) ?? []) < 0.1, `prompt ${i} near HF's f32 logits`);
        });
      } finally {
        for (const llm of [half, same, kept]) llm.close();
      }
    });
  }
});

describe("generate --prompt-ids", () => {
  const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, "generate", "--model", dir, ...args], { encoding: "utf8" });

  it("prints the greedy continuation of a tokenizer-less checkpoint as ids, equal to HF's", () => {
    for (const backend of ["reference", "wasm"]) {
      const p = golden.prompts[0];
      const r = run("--prompt-ids", p.ids.join(","), "--temperature", "0", "--max-tokens", String(golden.n_new), "--ignore-eos", "--backend", backend, "--quiet");
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), p.greedy.join(","));
    }
  });

  it("refuses ids that are not ids, ids beyond the vocabulary, and text with no tokenizer", () => {
    const bad: [string[], RegExp][] = [
      [["--prompt-ids", "1,x,3"], /--prompt-ids must be comma-separated token ids, got "x" in "1,x,3"/],
      [["--prompt-ids", "1,1000"], /token id 1000 is outside the vocabulary \[0, 1000\)/],
      [["hello"], /has no tokenizer: give the prompt as token ids/],
      [["hello", "--prompt-ids", "1"], /give the prompt as text or as --prompt-ids, not both/],
    ];
    for (const [args, pattern] of bad) {
      const r = run(...args, "--backend", "reference", "--max-tokens", "2");
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

describe("info on a Llama folder", () => {
  it("shows the family, grouped-query heads, head_dim and RoPE", () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "dist", "src", "cli", "main.js"), "info", "--model", dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /architecture  llama: 2 layers, hidden 64, 4 heads \/ 2 KV heads of 16, SwiGLU MLP 172, RoPE θ 10000, untied head/);
    assert.match(r.stdout, /attention     4 heads, 2 key\/value heads \(grouped-query, 2 queries per key\/value head\), head_dim 16/);
    assert.match(r.stdout, /tokenizer     none \(prompts are token ids\)/);
  });
});

describe("RoPE frequencies", () => {
  it("llama3 scaling divides low frequencies, keeps high ones and blends between (HF _compute_llama3_parameters)", () => {
    const rope = parseRopeConfig({ rope_theta: 500000, rope_scaling: { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, "config.json");
    const plain = inverseFrequencies(64, { theta: 500000, scaling: { type: "default" } });
    const scaled = inverseFrequencies(64, rope);
    assert.equal(scaled[0], plain[0], "the highest frequency is kept");
    assert.ok(Math.abs(scaled[31] - plain[31] / 32) < 1e-12, "the lowest is divided by the factor");
    const wavelen = (i: number) => (2 * Math.PI) / plain[i];
    const mid = [...plain.keys()].find((i) => wavelen(i) > 8192 / 4 && wavelen(i) < 8192);
    assert.ok(mid !== undefined && scaled[mid] < plain[mid] && scaled[mid] > plain[mid] / 32, "a medium frequency is blended");
  });

  it("accepts transformers 5's rope_parameters and the older rope_theta + rope_scaling alike", () => {
    const a = parseRopeConfig({ rope_parameters: { rope_type: "linear", rope_theta: 1e4, factor: 2 } }, "c");
    const b = parseRopeConfig({ rope_theta: 1e4, rope_scaling: { type: "linear", factor: 2 } }, "c");
    assert.deepEqual(a, b);
  });
});

describe("bad Llama configs get one-line errors", () => {
  const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
  const variant = (name: string, patch: Record<string, unknown>, drop: string[] = []): string => {
    const out = path.join(tmpRoot, name);
    fs.mkdirSync(out);
    for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(out, f));
    const c: Record<string, unknown> = { ...config, ...patch };
    for (const k of drop) delete c[k];
    fs.writeFileSync(path.join(out, "config.json"), JSON.stringify(c));
    return out;
  };
  const rejects = (source: string, pattern: RegExp) =>
    assert.rejects(LLM.load(source, { backend: "reference" }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"));
      return true;
    });

  it("--dtype q8 on rows that are not whole 32-weight blocks (intermediate 172)", () =>
    assert.rejects(LLM.load(dir, { backend: "reference", dtype: "q8" }), (e: unknown) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, /--dtype q8 needs matrix rows whose length is a multiple of 32, but this model has rows of 172: use --dtype f16 or f32/);
      return true;
    }));

  it("an unknown architecture lists the supported ones", () =>
    rejects(variant("falcon", { model_type: "falcon", architectures: ["FalconForCausalLM"] }), /unsupported architecture FalconForCausalLM \(model_type "falcon"\); supported: gpt2, llama, qwen2, qwen3/));
  it("heads not a multiple of KV heads", () => rejects(variant("heads", { num_key_value_heads: 3 }), /num_attention_heads 4 is not a multiple of num_key_value_heads 3/));
  it("an unsupported rope type is named", () =>
    rejects(variant("yarn", { rope_parameters: { rope_type: "yarn", rope_theta: 10000, factor: 4 } }), /unsupported rope type "yarn" \(supported: default, linear, llama3\)/));
  it("a missing tensor is named", () => {
    const out = variant("missing", { num_hidden_layers: 3 });
    return rejects(out, /tensor model\.layers\.2\.input_layernorm\.weight is missing from the checkpoint/);
  });
  it("attention_bias without bias tensors names the first missing one", () => {
    const out = variant("tied", { tie_word_embeddings: false, attention_bias: true });
    return rejects(out, /tensor model\.layers\.0\.self_attn\.q_proj\.bias is missing/);
  });
});
