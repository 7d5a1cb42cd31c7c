import assert from "node:assert/strict";
import { memorySource } from "../src/io/byte-source.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { infoCommand } from "../src/cli/info.js";
import { LLM } from "../src/engine/llm.js";
import { UserError } from "../src/errors.js";
import { readGGUF, type GGUFFile } from "../src/io/gguf-read.js";
import { unreadableGGUFTokenizer } from "../src/tokenizer/gguf.js";
import type { Matrix } from "../src/kernels/backend.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import { deinterleavedRow, llamaConfigFromGGUF, loadLlamaGGUF } from "../src/model/families/llama/load-gguf.js";
import type { LlamaWeights } from "../src/model/families/llama/weights.js";
import { loadModel } from "../src/model/load.js";
import { readMatrixRow } from "../src/model/matrix.js";
import { randomLlamaConfig, RANDOM_LLAMA_KINDS, writeRandomLlamaFolder } from "../scripts/make-random-llama.js";
import { maxAbsDiff, readGolden } from "./helpers.js";
import { fixtures } from "./paths.js";

const tiny = path.join(fixtures, "llama-tiny-random");
let work: string;
before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-gguf-llama-"))));
after(() => fs.rmSync(work, { recursive: true, force: true }));

async function convert(model: string, dtype: "f32" | "f16" | "q8_0" | "q4_0", name: string): Promise<string> {
  const out = path.join(work, name);
  await convertCommand({ model, to: "gguf", dtype, out, quiet: true });
  return out;
}

function allLogits(llm: LLM, ids: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  llm.forEachPositionLogits(ids, (_, logits) => out.push(logits.slice()));
  return out;
}

describe("Llama GGUF round trip of llama-tiny-random (GQA 4/2, HF goldens)", () => {
  const { golden, tensors } = readGolden(tiny);

  it("f32 GGUF: logits within 1e-4 of HF at every position, greedy identical (q/k permuted on write, undone on read)", async () => {
    const file = await convert(tiny, "f32", "tiny-f32.gguf");
    const llm = await LLM.load(file, { backend: "reference" });
    try {
      assert.equal(llm.model.family, "llama");
      const V = llm.shape.vocabSize;
      const all0 = tensors.get("all_logits_0");
      assert.ok(all0);
      allLogits(llm, golden.prompts[0].ids).forEach((logits, pos) => {
        const diff = maxAbsDiff(logits, all0.subarray(pos * V, (pos + 1) * V));
        assert.ok(diff < 1e-4, `position ${pos}: max |Δlogit| = ${diff}`);
      });
      golden.prompts.forEach((p, i) => {
        const last = allLogits(llm, p.ids).at(-1);
        assert.ok(last !== undefined);
        const diff = maxAbsDiff(last, tensors.get(`last_logits_${i}`) ?? []);
        assert.ok(diff < 1e-4, `prompt ${i}: max |Δlogit| = ${diff}`);
        const [r] = llm.generateBatch([p.ids], { temperature: 0, maxTokens: golden.n_new, ignoreEos: true });
        assert.deepEqual(r.tokens, p.greedy);
      });
    } finally {
      llm.close();
    }
  });

  it("stores q and k in ggml's interleaved order: file row 2j+s of a head is HF row s·hs/2 + j", async () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((r) => deinterleavedRow(r, 4)), [0, 2, 1, 3, 4, 6, 5, 7]);
    const g = readGGUF(path.join(work, "tiny-f32.gguf"));
    assert.equal(g.metadata.get("general.architecture"), "llama");
    assert.equal(g.metadata.get("llama.attention.head_count_kv"), 2);
    assert.equal(g.metadata.get("llama.rope.dimension_count"), 16);
    assert.ok(g.tensors.some((t) => t.name === "output.weight"), "untied head written");
    assert.ok(!g.tensors.some((t) => t.name === "rope_freqs.weight"), "no rope_freqs without llama3 scaling");
  });

  it("loads without a vocabulary as ids-only, and info says so", async () => {
    const file = path.join(work, "tiny-f32.gguf");
    const llm = await LLM.load(file, { backend: "reference" });
    try {
      assert.equal(llm.tokenizer.hasText, false);
      assert.throws(() => llm.tokenize("hi"), /has no tokenizer: give the prompt as token ids/);
    } finally {
      llm.close();
    }
    const text = await infoCommand({ model: file, quiet: true });
    assert.match(text, /tokenizer\s+none: written with placeholder tokens, no vocabulary \(prompts are token ids\)/);
  });

  it("refuses to convert a llama folder whose tokenizer.json is broken (rather than lose the tokenizer)", async () => {
    const dir = path.join(work, "with-tokenizer");
    fs.cpSync(tiny, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "tokenizer.json"), "{}");
    await assert.rejects(convert(dir, "f32", "never.gguf"), (e: unknown) => e instanceof UserError && /tokenizer\.json: missing model\.vocab/.test(e.message) && !e.message.includes("\n"));
  });
});

function sameWeights(a: LlamaWeights, b: LlamaWeights): void {
  const rows = (m: Matrix) => {
    const out = new Float32Array(m.rows * m.cols);
    for (let r = 0; r < m.rows; r++) readMatrixRow(out, r * m.cols, m, r);
    return out;
  };
  const pairs: [string, Matrix, Matrix][] = [["embed", a.embed, b.embed], ["lmHead", a.lmHead, b.lmHead]];
  a.blocks.forEach((blk, l) => {
    const o = b.blocks[l];
    pairs.push([`${l}.qkv`, blk.qkv, o.qkv], [`${l}.o`, blk.o, o.o], [`${l}.gateUp`, blk.gateUp, o.gateUp], [`${l}.down`, blk.down, o.down]);
  });
  for (const [name, x, y] of pairs) assert.deepEqual(rows(x), rows(y), name);
}

describe("NaN and Inf in a Llama-family GGUF", () => {
  it("are named with their tensor and element at load", async () => {
    const file = await convert(tiny, "f32", "poisoned.gguf");
    for (const [tensorName, value] of [["blk.1.attn_q.weight", Number.NaN], ["blk.0.ffn_gate.weight", Infinity]] as const) {
      const t = readGGUF(file).tensors.find((x) => x.name === tensorName);
      assert.ok(t !== undefined);
      const bytes = fs.readFileSync(file);
      bytes.writeFloatLE(value, t.byteOffset + 4 * 70);
      const poisoned = path.join(work, `poisoned-${tensorName}.gguf`);
      fs.writeFileSync(poisoned, bytes);
      await assert.rejects(LLM.load(poisoned, { backend: "reference" }), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.match(e.message, new RegExp(`tensor ${tensorName.replace(/\./g, "\\.")} holds ${value} at element \\d+`));
        return true;
      });
    }
  });
});

describe("Llama-family GGUF from random checkpoints", () => {
  for (const kind of RANDOM_LLAMA_KINDS) {
    it(`${kind}: the f32 GGUF's logits equal the folder's within 1e-5 at every position`, async () => {
      const dir = writeRandomLlamaFolder(path.join(work, kind), randomLlamaConfig(kind), { seed: 7 });
      const file = await convert(dir, "f32", `${kind}-f32.gguf`);
      const ids = Array.from({ length: 80 }, (_, i) => (i * 37 + 11) % 256);
      const [fromFolder, fromGGUF] = [await LLM.load(dir, { backend: "reference" }), await LLM.load(file, { backend: "reference" })];
      try {
        assert.equal(fromGGUF.model.family, kind === "llama3" ? "llama" : kind);
        assert.deepEqual(fromGGUF.shape, fromFolder.shape);
        const a = allLogits(fromFolder, ids);
        allLogits(fromGGUF, ids).forEach((logits, pos) => {
          const diff = maxAbsDiff(logits, a[pos]);
          assert.ok(diff < 1e-5, `position ${pos}: max |Δlogit| = ${diff}`);
        });
        const greedy = (llm: LLM) => llm.generateBatch([ids.slice(0, 5)], { temperature: 0, maxTokens: 12, ignoreEos: true })[0].tokens;
        assert.deepEqual(greedy(fromGGUF), greedy(fromFolder));
      } finally {
        fromFolder.close();
        fromGGUF.close();
      }
    });
  }

  it("llama with attention_bias and mlp_bias: biases (q and k permuted like their rows) round-trip within 1e-5", async () => {
    const config = { ...randomLlamaConfig("llama3"), attention_bias: true, mlp_bias: true, tie_word_embeddings: false };
    const dir = writeRandomLlamaFolder(path.join(work, "llama-bias"), config, { seed: 3 });
    const file = await convert(dir, "f32", "llama-bias.gguf");
    const names = readGGUF(file).tensors.map((t) => t.name);
    for (const n of ["attn_q.bias", "attn_k.bias", "attn_v.bias", "attn_output.bias", "ffn_gate.bias", "ffn_up.bias", "ffn_down.bias"]) assert.ok(names.includes(`blk.0.${n}`), n);
    const ids = Array.from({ length: 40 }, (_, i) => (i * 53 + 7) % 512);
    const [fromFolder, fromGGUF] = [await LLM.load(dir, { backend: "reference" }), await LLM.load(file, { backend: "reference" })];
    try {
      const a = allLogits(fromFolder, ids);
      allLogits(fromGGUF, ids).forEach((logits, pos) => assert.ok(maxAbsDiff(logits, a[pos]) < 1e-5, `position ${pos}`));
    } finally {
      fromFolder.close();
      fromGGUF.close();
    }
  });

  it("llama3: Llama 3 scaling is written as rope_freqs factors (1 high, 8 low, blended between)", () => {
    const g = readGGUF(path.join(work, "llama3-f32.gguf"));
    const config = llamaConfigFromGGUF(g, { name: "llama", qkvBias: "attention_bias", qkNorm: false });
    assert.equal(config.tieWordEmbeddings, true);
    const f = config.rope.freqFactors;
    assert.ok(f !== undefined && f.length === 8);
    assert.equal(f[0], 1);
    assert.equal(f[7], 8);
    assert.ok(f[1] > 1 && f[1] < 8, `blended factor ${f[1]}`);
  });

  for (const dtype of ["q8_0", "q4_0"] as const) {
    it(`${dtype} GGUF loaded as q8 holds exactly the weights of its f32 load`, async () => {
      const file = await convert(path.join(work, "llama3"), dtype, `llama3-${dtype}.gguf`);
      const g = readGGUF(file);
      const config = llamaConfigFromGGUF(g, { name: "llama", qkvBias: "attention_bias", qkNorm: false });
      const backend = createReferenceBackend();
      try {
        const q8 = loadLlamaGGUF(g, config, backend, "q8");
        assert.equal(q8.blocks[0].qkv.kind, "q8");
        sameWeights(q8, loadLlamaGGUF(g, config, backend, "f32"));
      } finally {
        backend.close();
      }
    });
  }

  it("an unsupported tensor type is one line naming the tensor and the type", async () => {
    const config = { ...randomLlamaConfig("qwen3"), hidden_size: 256, num_hidden_layers: 1, vocab_size: 64 };
    const file = await convert(writeRandomLlamaFolder(path.join(work, "wide"), config), "f32", "wide.gguf");
    const buf = fs.readFileSync(file);
    const name = Buffer.from("blk.0.ffn_up.weight");
    const at = buf.indexOf(name) + name.length + 4 + 16; // then u32 n_dims, two u64 dims, u32 type
    buf.writeUInt32LE(11, at); // Q3_K: fewer bytes than the F32 data, so the layout stays valid
    fs.writeFileSync(file, buf);
    const backend = createReferenceBackend();
    try {
      await assert.rejects(loadModel(file, backend, "f32"), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.match(e.message, /tensor blk\.0\.ffn_up\.weight has type Q3_K, which this engine cannot read \(supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16\)/);
        assert.ok(!e.message.includes("\n"));
        return true;
      });
    } finally {
      backend.close();
    }
  });

  it("tokenizers this engine cannot read yet are named; byte-level BPE ones (gpt-2, llama-bpe, qwen2) and SentencePiece-style ones (llama) are readable", () => {
    const fake = (entries: [string, string][]): GGUFFile => ({ file: "x.gguf", source: memorySource("x.gguf", new Uint8Array(0)), version: 3, fileSize: 0, alignment: 32, dataOffset: 0, metadata: new Map(entries), tensors: [] });
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "gpt-2"]])), null);
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "llama"]])), null);
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "t5"]])), 'tokenizer.ggml.model "t5" is not supported yet');
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "llama-bpe"]])), null);
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "qwen2"]])), null);
    assert.equal(unreadableGGUFTokenizer(fake([["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "chatglm-bpe"]])), 'tokenizer.ggml.pre "chatglm-bpe" is not supported yet');
    assert.equal(unreadableGGUFTokenizer(fake([])), "the file has no vocabulary");
  });
});
