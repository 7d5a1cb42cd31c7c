import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { infoCommand } from "../src/cli/info.js";
import { LLM } from "../src/engine/llm.js";
import { GGMLType, ggmlTypeName } from "../src/io/gguf.js";
import { writeGPT2GGUF } from "../src/model/families/gpt2/export-gguf.js";
import type { GGUFOutType } from "../src/model/layers/gguf-out.js";
import { parseGPT2Config } from "../src/model/families/gpt2/config.js";
import { loadSafetensorsWeights } from "../src/model/families/gpt2/load-safetensors.js";
import { decodeF32, encode, encodedSize } from "../src/io/gguf-quant.js";
import { f16ToF32, f32ToF16 } from "../src/numeric/half.js";
import { readGGUF } from "../src/io/gguf-read.js";
import { tokenizerTablesFromFolder } from "../src/tokenizer/gguf-from-folder.js";
import { diskFolder } from "../src/io/disk.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import { loadModel, loadSourceTokenizer, readConfigJson } from "../src/model/load.js";
import { maxAbsDiff } from "./helpers.js";
import { fixtureModel } from "./paths.js";

const tiny = fixtureModel("gpt2-tiny-random");
const TEXT = "Hello world, this is a test of the GGUF loader. <|endoftext|> And after it: 1492!";

function lastLogits(llm: LLM, ids: number[]): Float32Array {
  let out = new Float32Array(0);
  llm.forEachPositionLogits(ids, (pos, logits) => {
    if (pos === ids.length - 1) out = logits.slice();
  });
  return out;
}

describe("GGUF block formats", () => {
  it("f32 -> f16 rounds to nearest even, like numpy and F16C", () => {
    for (const h of [0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x3555]) assert.equal(f32ToF16(f16ToF32(h)), h);
    assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00, "a tie rounds to the even mantissa");
    assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(f32ToF16(65520), 0x7c00, "overflow to infinity");
    assert.equal(f32ToF16(2 ** -25), 0x0000);
    assert.equal(f32ToF16(3 * 2 ** -26), 0x0001);
    assert.ok(Number.isNaN(f16ToF32(f32ToF16(NaN))));
  });

  it("Q8_0 and Q4_0 round-trip within one step of their scale", () => {
    const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 1.7) * (i + 1) * 0.01);
    for (const [type, steps] of [[GGMLType.Q8_0, 127], [GGMLType.Q4_0, 8]] as const) {
      const bytes = Buffer.alloc(encodedSize(type, 64));
      encode(type, x, 64, bytes);
      const y = new Float32Array(64);
      decodeF32(type, bytes, 64, y, 0);
      for (let b = 0; b < 2; b++) {
        const amax = Math.max(...x.subarray(b * 32, b * 32 + 32).map(Math.abs));
        for (let i = b * 32; i < b * 32 + 32; i++) assert.ok(Math.abs(x[i] - y[i]) <= amax / steps, `${ggmlTypeName(type)} element ${i}: ${x[i]} vs ${y[i]}`);
      }
    }
  });
});

describe("GGUF round trip of gpt2-tiny-random", () => {
  let work: string;
  let reference: LLM;
  let ids: number[];
  let expected: Float32Array;
  const file = (dtype: GGUFOutType) => path.join(work, `tiny-${dtype}.gguf`);

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-gguf-"));
    for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as const) await convertCommand({ model: tiny, to: "gguf", dtype, out: file(dtype), quiet: true });
    reference = await LLM.load(tiny, { backend: "reference" });
    ids = reference.tokenize(TEXT);
    expected = lastLogits(reference, ids);
  });
  after(() => {
    reference.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("writes llama.cpp's GPT-2 metadata and tensor names, norms and biases in F32", () => {
    const g = readGGUF(file("q8_0"));
    assert.equal(g.version, 3);
    const meta = g.metadata;
    assert.equal(meta.get("general.architecture"), "gpt2");
    assert.equal(meta.get("general.file_type"), 7);
    for (const [k, v] of [["gpt2.context_length", 64], ["gpt2.embedding_length", 32], ["gpt2.feed_forward_length", 128], ["gpt2.block_count", 2], ["gpt2.attention.head_count", 4]] as const) assert.equal(meta.get(k), v, k);
    assert.equal(meta.get("gpt2.attention.layer_norm_epsilon"), Math.fround(1e-5));
    assert.equal(meta.get("tokenizer.ggml.model"), "gpt2");
    assert.equal(meta.get("tokenizer.ggml.pre"), "gpt-2");
    assert.equal(meta.get("tokenizer.ggml.bos_token_id"), 50256);
    assert.equal(meta.get("tokenizer.ggml.eos_token_id"), 50256);
    const tokens = meta.get("tokenizer.ggml.tokens");
    const types = meta.get("tokenizer.ggml.token_type");
    assert.ok(Array.isArray(tokens) && Array.isArray(types));
    assert.equal(tokens.length, 50257);
    assert.equal(tokens[50256], "<|endoftext|>");
    assert.equal(types[50256], 3, "<|endoftext|> is a control token");
    assert.equal(types[0], 1);
    assert.equal((meta.get("tokenizer.ggml.merges") as readonly string[])[0], "Ġ t");

    const names = g.tensors.map((t) => t.name);
    const expectedNames = ["token_embd.weight", "position_embd.weight"];
    for (let l = 0; l < 2; l++) {
      for (const t of ["attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"]) expectedNames.push(`blk.${l}.${t}.weight`, `blk.${l}.${t}.bias`);
    }
    expectedNames.push("output_norm.weight", "output_norm.bias");
    assert.deepEqual([...names].sort(), expectedNames.sort(), "tied head: no output.weight");
    const type = (n: string) => ggmlTypeName(g.tensors.find((t) => t.name === n)?.type ?? -1);
    const dims = (n: string) => g.tensors.find((t) => t.name === n)?.dims;
    assert.equal(type("token_embd.weight"), "Q8_0");
    assert.equal(type("blk.0.attn_qkv.weight"), "Q8_0");
    assert.equal(type("position_embd.weight"), "F32");
    assert.equal(type("blk.1.ffn_norm.weight"), "F32");
    assert.equal(type("blk.1.ffn_up.bias"), "F32");
    assert.deepEqual(dims("token_embd.weight"), [32, 50257]);
    assert.deepEqual(dims("blk.0.attn_qkv.weight"), [32, 96]);
    assert.deepEqual(dims("blk.0.ffn_up.weight"), [32, 128]);
    assert.deepEqual(dims("blk.0.ffn_down.weight"), [128, 32]);
    for (const t of g.tensors) assert.equal((t.byteOffset - g.dataOffset) % 32, 0, `${t.name} is aligned`);
  });

  it("reading without arrays (the weights' path) steps over the tokenizer and keeps everything else", () => {
    const all = readGGUF(file("q8_0"));
    const lean = readGGUF(file("q8_0"), { arrays: "skip" });
    const arrays = [...all.metadata].filter(([, v]) => Array.isArray(v)).map(([k]) => k);
    assert.deepEqual(arrays.sort(), ["tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.tokens"]);
    for (const [k, v] of all.metadata) assert.deepEqual(lean.metadata.get(k), arrays.includes(k) ? undefined : v, k);
    assert.deepEqual(lean.tensors, all.tensors);
    assert.equal(lean.dataOffset, all.dataOffset);
  });

  it("f32: logits identical to the safetensors model", async () => {
    const llm = await LLM.load(file("f32"), { backend: "reference" });
    assert.equal(maxAbsDiff(lastLogits(llm, ids), expected), 0);
    const [a] = llm.generateBatch([ids], { temperature: 0, maxTokens: 12, ignoreEos: true });
    const [b] = reference.generateBatch([ids], { temperature: 0, maxTokens: 12, ignoreEos: true });
    assert.deepEqual(a.tokens, b.tokens);
    llm.close();
  });

  for (const [dtype, weights, tol] of [["f16", "f32", 5e-3], ["q8_0", "f32", 5e-2], ["q8_0", "q8", 5e-2]] as const) {
    it(`${dtype} loaded as ${weights}: logits within ${tol}`, async () => {
      const llm = await LLM.load(file(dtype), { backend: "reference", dtype: weights });
      const diff = maxAbsDiff(lastLogits(llm, ids), expected);
      assert.ok(diff < tol, `max |Δlogit| = ${diff}`);
      llm.close();
    });
  }

  it("an F16 GGUF loaded as f16 gives the logits of the same file loaded as f32, bit for bit", async () => {
    for (const backend of ["reference", "wasm"] as const) {
      const f16 = await LLM.load(file("f16"), { backend, threads: 2, dtype: "f16" });
      const f32 = await LLM.load(file("f16"), { backend, threads: 2, dtype: "f32" });
      assert.ok(f16.model.decodeWeightArrays().every((a) => a instanceof Uint16Array), "every matrix is stored as halves");
      assert.deepEqual(lastLogits(f16, ids), lastLogits(f32, ids));
      f16.close();
      f32.close();
    }
  });

  it("Q8_0 and Q4_0 go straight into int8 matrices: the q8 model equals the dequantized one", async () => {
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const backend = createReferenceBackend();
      const q8 = await loadModel(file(dtype), backend, "q8");
      const f32 = await loadModel(file(dtype), backend, "f32");
      // The first matrix a decode step reads: block 0's fused qkv, as int8 + scales and as f32.
      const [q, scales] = q8.model.decodeWeightArrays();
      const [d] = f32.model.decodeWeightArrays();
      assert.ok(q instanceof Int8Array && scales instanceof Float32Array && d instanceof Float32Array);
      for (let i = 0; i < q.length; i++) assert.equal(q[i] * scales[i >> 5], d[i], `${dtype} weight ${i}`);
      if (dtype === "q4_0") assert.ok(q.every((v) => v >= -8 && v <= 7));
    }
  });

  it("the tokenizer from GGUF metadata encodes and decodes like the folder's", async () => {
    const llm = await LLM.load(file("f16"), { backend: "reference" });
    for (const text of [TEXT, " leading space", "ünïcödé — 東京 🎉", "\n\n\tcode()  {}"]) {
      assert.deepEqual(llm.tokenize(text), reference.tokenize(text), text);
      assert.equal(llm.detokenize(llm.tokenize(text)), text);
    }
    assert.equal(llm.tokenizer.eosTokenId, 50256);
    assert.equal(llm.tokenizer.bosTokenId, 50256);
    llm.close();
    const headerOnly = await loadSourceTokenizer(file("q4_0"));
    assert.deepEqual(headerOnly.encode(TEXT), ids);
  });

  it("converting a GGUF file again gives the same bytes", async () => {
    const again = path.join(work, "again-q8_0.gguf");
    await convertCommand({ model: file("f32"), to: "gguf", dtype: "q8_0", out: again, quiet: true });
    assert.deepEqual(fs.readFileSync(again), fs.readFileSync(file("q8_0")));
  });

  it("an untied head is written as output.weight and read back", async () => {
    const backend = createReferenceBackend();
    const config = parseGPT2Config(readConfigJson(tiny), tiny);
    const weights = loadSafetensorsWeights(diskFolder(tiny), config, backend, "f32");
    const head = weights.wte.kind === "f32" ? { ...weights.wte, data: weights.wte.data.map((v: number) => v * 0.5) } : weights.wte;
    const out = path.join(work, "untied.gguf");
    writeGPT2GGUF(out, { name: "untied", config: { ...config, tieWordEmbeddings: false }, weights: { ...weights, lmHead: head }, tokenizer: tokenizerTablesFromFolder(tiny, config.vocabSize) }, "f32");
    assert.ok(readGGUF(out).tensors.some((t) => t.name === "output.weight"));
    const llm = await LLM.load(out, { backend: "reference" });
    assert.equal(llm.model.parameterCount(), config.vocabSize * config.nEmbd + (await LLM.load(tiny, { backend: "reference" })).model.parameterCount(), "the head is counted apart");
    const logits = lastLogits(llm, ids);
    const diff = maxAbsDiff(logits, expected.map((v) => v * 0.5));
    assert.ok(diff < 1e-5, `halved head halves the logits: ${diff}`);
    llm.close();
  });

  it("info describes GGUF files and folders", async () => {
    const g = await infoCommand({ model: file("q4_0") });
    assert.match(g, /format +GGUF v3/);
    assert.match(g, /architecture +gpt2: 2 layers, 4 heads, embedding 32, MLP 128, tied head/);
    assert.match(g, /parameters +1\.6M \(1,635,744\)/);
    assert.match(g, /dtypes +Q4_0 × 9, F32 × 19/);
    assert.match(g, /context +64 tokens/);
    assert.match(g, /tokenizer +byte-level BPE .*50257 tokens, 50000 merges/);
    assert.match(g, /tiny-q4_0\.gguf +\d/);
    const f = await infoCommand({ model: fixtureModel("gpt2-tiny-random-f16-sharded") });
    assert.match(f, /parameters +1\.6M \(1,635,744\)/);
    assert.match(f, /dtypes +F16 × 28/);
    assert.match(f, /model-00002-of-00002\.safetensors +\d/);
  });

  it("convert refuses a missing output folder and an unknown dtype", async () => {
    await assert.rejects(convertCommand({ model: tiny, to: "gguf", dtype: "f32", out: path.join(work, "no", "such", "x.gguf") }), /folder .* does not exist/);
    const dtype = "q2_k" as GGUFOutType; // what an unchecked CLI string would carry
    await assert.rejects(convertCommand({ model: tiny, to: "gguf", dtype, out: path.join(work, "x.gguf") }), /--dtype must be one of f32, f16, q8_0, q4_0/);
  });
});
