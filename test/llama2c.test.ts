import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { UserError } from "../src/errors.js";
import { LLM, type LoadOptions } from "../src/engine/llm.js";
import { LLMEngine } from "../src/engine/llm-engine.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { readLlama2cHeader } from "../src/io/llama2c.js";
import { rotateHalfRow } from "../src/model/families/llama/load-llama2c.js";
import { openModel } from "../src/model/load.js";
import { loadLlama2cTokenizer } from "../src/tokenizer/llama2c.js";
import { maxAbsDiff } from "./helpers.js";
import { defaultModelDir, fixtures, repoRoot } from "./paths.js";

interface Llama2cCase {
  prompt: string;
  prompt_ids: number[];
  greedy_ids: number[];
  text: string;
  steps: number;
  stop: "steps" | "bos";
}

const dir = path.join(fixtures, "stories260K");
const modelFile = path.join(dir, "stories260K.bin");
const tokFile = path.join(dir, "tok512.bin");
const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8")) as { header: Record<string, number>; cases: Llama2cCase[]; bos_logits_pos0: number[] };
const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-llama2c-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** run.c runs `steps` positions: the prompt's tokens after the first, then what it generates. */
const maxTokens = (c: Llama2cCase) => c.steps + 1 - c.prompt_ids.length;

describe("llama2.c stories260K against run.c's goldens", () => {
  it("reads the version-0 header as run.c does", () => {
    const h = readLlama2cHeader(modelFile);
    const g = golden.header;
    assert.deepEqual(
      [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKVHeads, h.vocabSize, h.seqLen, h.sharedClassifier],
      [g.dim, g.hidden_dim, g.n_layers, g.n_heads, g.n_kv_heads, g.vocab_size, g.seq_len, true],
    );
  });

  it("permutes q/k rows per head from adjacent pairs to rotate-half (HF's permute, inverted)", () => {
    assert.deepEqual(
      Array.from({ length: 16 }, (_, j) => rotateHalfRow(j, 8)),
      [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15],
    );
  });

  it("encodes every prompt to run.c's ids and decodes run.c's text", () => {
    const tok = loadLlama2cTokenizer(tokFile);
    assert.equal(tok.vocabSize, 512);
    for (const c of golden.cases) {
      assert.deepEqual(tok.encode(c.prompt), c.prompt_ids, c.prompt);
      assert.equal(tok.decode([...c.prompt_ids, ...c.greedy_ids]), tok.bosToken + c.text, c.prompt);
    }
    // byte fallback: <0x0A> is id 13, and a character the vocabulary lacks is its UTF-8 bytes + 3
    assert.equal(tok.decode([13]), "\n");
    const emoji = tok.encode("😀");
    assert.deepEqual(emoji.slice(-4), [...Buffer.from("😀")].map((b) => b + 3));
  });

  it("stream-decodes without half characters, and drops the leading space only right after BOS", () => {
    const tok = loadLlama2cTokenizer(tokFile);
    const ids = tok.encode("Tom saw é and 😀 then");
    const decoder = tok.createStreamDecoder([1]);
    const pieces = ids.slice(1).map((id) => decoder.push(id));
    assert.ok(pieces.every((p) => !p.includes("\uFFFD")), JSON.stringify(pieces));
    assert.equal(pieces.join("") + decoder.flush(), "Tom saw é and 😀 then");
    assert.equal(tok.createStreamDecoder([1]).push(403), "Once");
    assert.equal(tok.createStreamDecoder([1, 403]).push(403), " Once", "a space after a non-BOS token stays");
  });

  const backends: [string, LoadOptions][] = [
    ["reference", { backend: "reference" }],
    ["wasm, 1 thread", { backend: "wasm", threads: 1 }],
    ["wasm, 2 threads", { backend: "wasm", threads: 2 }],
  ];
  for (const [name, options] of backends) {
    it(`${name}: BOS logits at position 0 and every greedy continuation equal run.c's`, async () => {
      const llm = await LLM.load(modelFile, { ...options, tokenizer: tokFile });
      try {
        assert.equal(llm.model.family, "llama");
        assert.deepEqual(llm.shape, { nLayer: 5, nHead: 8, nKVHead: 4, headDim: 8, vocabSize: 512, contextLength: 512 });
        llm.forEachPositionLogits([1], (_, logits) => assert.ok(maxAbsDiff(logits, golden.bos_logits_pos0) < 1e-4));
        for (const c of golden.cases) {
          const ids = llm.tokenize(c.prompt);
          assert.deepEqual(ids, c.prompt_ids, c.prompt);
          const [r] = llm.generateBatch([ids], { temperature: 0, maxTokens: maxTokens(c) });
          assert.deepEqual(r.tokens, c.greedy_ids, c.prompt);
          assert.equal(r.finishReason, c.stop === "bos" ? "stop" : "length", c.prompt);
          assert.equal(c.prompt + r.text, c.text, c.prompt);
        }
      } finally {
        llm.close();
      }
    });
  }

  it("LLMEngine (paged cache) takes the tokenizer option and continues like run.c", async () => {
    const engine = await LLMEngine.load(modelFile, { backend: "wasm", threads: 2, tokenizer: tokFile, maxBatch: 2, blockSize: 16 });
    try {
      const cases = golden.cases.slice(1, 3);
      const results = await Promise.all(cases.map((c) => engine.generate(c.prompt, resolveSamplingParams({ temperature: 0, maxTokens: maxTokens(c) }))));
      assert.deepEqual(
        results.map((r) => r.tokenIds),
        cases.map((c) => c.greedy_ids),
      );
    } finally {
      engine.close();
    }
  });

  it("runs on token ids without a tokenizer.bin, still stopping on BOS", async () => {
    const llm = await LLM.load(modelFile, { backend: "reference" });
    try {
      const c = golden.cases[2];
      assert.equal(llm.tokenizer.hasText, false);
      const [r] = llm.generateBatch([c.prompt_ids], { temperature: 0, maxTokens: maxTokens(c) });
      assert.deepEqual(r.tokens, c.greedy_ids);
      assert.equal(r.finishReason, "stop");
    } finally {
      llm.close();
    }
  });

  it("a separate classifier (negative vocab_size) is read after the RoPE tables, as run.c reads it", async () => {
    // stories260K with vocab_size -512 and twice its embedding appended as the classifier: logits double.
    const bytes = fs.readFileSync(modelFile);
    const header = Buffer.from(bytes.subarray(0, 28));
    header.writeInt32LE(-512, 20);
    const embedding = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 28, bytes.byteOffset + 28 + 512 * 64 * 4));
    const classifier = Buffer.from(embedding.map((x) => 2 * x).buffer);
    const file = path.join(tmpRoot, "unshared.bin");
    fs.writeFileSync(file, Buffer.concat([header, bytes.subarray(28), classifier]));
    const llm = await LLM.load(file, { backend: "reference", tokenizer: tokFile });
    try {
      llm.forEachPositionLogits([1], (_, logits) => assert.ok(maxAbsDiff(logits, golden.bos_logits_pos0.map((x) => 2 * x)) < 2e-4));
    } finally {
      llm.close();
    }
  });

  it("f16 weights load; q8 says which width is not a multiple of 32", async () => {
    const llm = await LLM.load(modelFile, { backend: "wasm", dtype: "f16", tokenizer: tokFile });
    try {
      assert.equal(llm.generateBatch([golden.cases[1].prompt], { temperature: 0, maxTokens: 8 })[0].tokens.length, 8);
    } finally {
      llm.close();
    }
    await assert.rejects(LLM.load(modelFile, { backend: "wasm", dtype: "q8", tokenizer: tokFile }), /--dtype q8 needs row widths that are multiples of 32, but hidden_dim is 172/);
  });

  it("CLI generate prints run.c's stdout for every golden case", () => {
    for (const c of golden.cases) {
      const args = [cli, "generate", "--model", modelFile, "--tokenizer", tokFile, "--temperature", "0", "--max-tokens", String(maxTokens(c)), "--quiet"];
      const r = spawnSync(process.execPath, c.prompt === "" ? args : [...args, c.prompt], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, c.text + "\n", c.prompt);
    }
    const c = golden.cases[1];
    const r = spawnSync(process.execPath, [cli, "generate", "--model", modelFile, "--tokenizer", tokFile, "--temperature", "0", "--max-tokens", String(maxTokens(c)), "--json", c.prompt], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { tokens: number[]; prompt_tokens: number[] };
    assert.deepEqual(out.tokens, c.greedy_ids);
    assert.deepEqual(out.prompt_tokens, c.prompt_ids);
  });

  it("CLI info and tokenize read llama2.c files", () => {
    const info = spawnSync(process.execPath, [cli, "info", "--model", modelFile], { encoding: "utf8" });
    assert.equal(info.status, 0, info.stderr);
    assert.match(info.stdout, /llama2\.c checkpoint/);
    assert.match(info.stdout, /8 heads, 4 key\/value heads/);
    const tok = spawnSync(process.execPath, [cli, "tokenize", "--model", modelFile, "--tokenizer", tokFile, "--json", "Lily and Tom"], { encoding: "utf8" });
    assert.equal(tok.status, 0, tok.stderr);
    assert.deepEqual((JSON.parse(tok.stdout) as { ids: number[] }).ids, golden.cases[1].prompt_ids);
  });
});

describe("llama2.c files that are not right", () => {
  const bytes = fs.readFileSync(modelFile);
  const write = (name: string, data: Uint8Array) => {
    const file = path.join(tmpRoot, name);
    fs.writeFileSync(file, data);
    return file;
  };
  const header = (values: number[]) => {
    const b = Buffer.alloc(28);
    values.forEach((v, i) => b.writeInt32LE(v, 4 * i));
    return b;
  };
  const oneLine = async (promise: Promise<unknown>, pattern: RegExp) => {
    await assert.rejects(promise, (e: Error) => {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, pattern);
      assert.equal(e.message.split("\n").length, 1, e.message);
      return true;
    });
  };

  it("a truncated checkpoint names the bytes the header implies and the bytes there are", async () => {
    const file = write("truncated.bin", bytes.subarray(0, 500000));
    await oneLine(openModel(file), new RegExp(`truncated: .*implies ${bytes.length} bytes but the file has 500000`));
  });

  it("a header with nonsense sizes, a short file, an extra-long file and a version-1 export", async () => {
    await oneLine(openModel(write("zero-heads.bin", Buffer.concat([header([64, 172, 5, 0, 4, 512, 512]), bytes.subarray(28)]))), /not a llama2\.c checkpoint header \(dim 64.*n_heads 0.*\): every size must be/);
    await oneLine(openModel(write("huge.bin", Buffer.concat([header([1e9, 172, 5, 8, 4, 512, 512]), bytes.subarray(28)]))), /not a llama2\.c checkpoint header \(dim 1000000000/);
    await oneLine(openModel(write("gqa.bin", Buffer.concat([header([64, 172, 5, 8, 3, 512, 512]), bytes.subarray(28)]))), /n_heads is not a multiple of n_kv_heads/);
    await oneLine(openModel(write("short.bin", bytes.subarray(0, 10))), /10 bytes is too short for a llama2\.c checkpoint header/);
    await oneLine(openModel(write("long.bin", Buffer.concat([bytes, Buffer.alloc(4)]))), new RegExp(`has ${bytes.length + 4} bytes but .* has ${bytes.length}`));
    const v1 = Buffer.alloc(256);
    v1.writeUInt32LE(0x616b3432, 0);
    v1.writeInt32LE(1, 4);
    await oneLine(openModel(write("v1.bin", v1)), /export version 1 is not supported/);
    await oneLine(openModel(path.join(tmpRoot, "missing.bin")), /model file .*missing\.bin does not exist/);
  });

  it("a NaN or Inf in the weights is named at load", async () => {
    // After the 28-byte header: the token embedding (512 × 64), rms_att (5 × 64), then wq of layer 0.
    for (const [name, value, at] of [["nan.bin", Number.NaN, 28 + 4 * 100], ["inf.bin", Infinity, 28 + 4 * (512 * 64 + 5 * 64 + 10)]] as const) {
      const poisoned = Buffer.from(bytes);
      poisoned.writeFloatLE(value, at);
      await oneLine(LLM.load(write(name, poisoned), { backend: "reference" }), new RegExp(`${name.replace(".", "\\.")}: \\w+ of layer \\d+ holds ${value} at element \\d+`));
    }
  });

  it("a missing, garbled or mismatched tokenizer file", async () => {
    await oneLine(openModel(modelFile, { tokenizer: path.join(tmpRoot, "nope.bin") }), /tokenizer file .*nope\.bin does not exist/);
    await oneLine(openModel(modelFile, { tokenizer: modelFile }), /stories260K\.bin: not a llama2\.c tokenizer\.bin: token \d+ /);
    const tok = fs.readFileSync(tokFile);
    await oneLine(openModel(modelFile, { tokenizer: write("cut-tok.bin", tok.subarray(0, tok.length - 3)) }), /cut-tok\.bin: not a llama2\.c tokenizer\.bin: token 511 is cut off/);
    await oneLine(openModel(modelFile, { tokenizer: write("neg-tok.bin", header([-5])) }), /max_token_length -5 is out of range/);
    const half = Buffer.concat([tok.subarray(0, 4), ...[...Array(300).keys()].map(() => Buffer.from([0, 0, 0, 0, 1, 0, 0, 0, 0x41]))]);
    await oneLine(openModel(modelFile, { tokenizer: write("300-tok.bin", half) }), /300-tok\.bin: has 300 tokens but .*stories260K\.bin has vocab_size 512/);
    await oneLine(openModel(defaultModelDir, { tokenizer: tokFile }), /--tokenizer reads a llama2\.c tokenizer\.bin for a llama2\.c \.bin model/);
  });

  it("the CLI prints such errors on one line and exits 1", () => {
    const file = write("cli-truncated.bin", bytes.subarray(0, 1000));
    const r = spawnSync(process.execPath, [cli, "generate", "--model", file, "--tokenizer", tokFile, "hi"], { encoding: "utf8" });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /truncated: .*implies 1056540 bytes but the file has 1000/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    const t = spawnSync(process.execPath, [cli, "tokenize", "--model", modelFile, "hi"], { encoding: "utf8" });
    assert.equal(t.status, 1, t.stderr);
    assert.match(t.stderr, /llama2\.c checkpoint, whose tokenizer is a separate file: give it with --tokenizer/);
  });
});
