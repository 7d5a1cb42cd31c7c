import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { resolveSamplingParams } from "../src/engine/sampling-params.js";
import { fixtureModel, fixtures, repoRoot } from "./paths.js";
import { rejectsWith } from "./helpers.js";

const source = fixtureModel("gpt2-tiny-random");
const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-errors-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

/** A copy of gpt2-tiny-random whose files can be broken one at a time. */
function modelCopy(name: string): string {
  const dir = path.join(tmpRoot, name);
  fs.mkdirSync(dir);
  for (const f of fs.readdirSync(source)) fs.copyFileSync(path.join(source, f), path.join(dir, f));
  return dir;
}

/** Writes a safetensors file from a header object and a data section. */
function writeSafetensors(file: string, header: unknown, data: Buffer, headerLenOverride?: number): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? json.length));
  fs.writeFileSync(file, Buffer.concat([len, json, data]));
}

/** The real header of the fixture checkpoint, to corrupt one field at a time. */
function realHeader(): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>; data: Buffer } {
  const bytes = fs.readFileSync(path.join(source, "model.safetensors"));
  const n = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")), data: bytes.subarray(8 + n) };
}

const load = (dir: string) => LLM.load(dir, { backend: "reference" });

describe("bad model files get a clear error", () => {
  it("missing folder", () => rejectsWith(load(path.join(tmpRoot, "nope")), /model folder .*nope does not exist/));

  it("a shard name that leaves the folder is refused, not opened", async () => {
    const dir = modelCopy("escaping-shard");
    const outside = path.join(tmpRoot, "outside.safetensors");
    fs.copyFileSync(path.join(dir, "model.safetensors"), outside);
    fs.rmSync(path.join(dir, "model.safetensors"));
    for (const shard of ["../outside.safetensors", "/etc/passwd", "sub/../../outside.safetensors", "..\\outside.safetensors"]) {
      fs.writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "wte.weight": shard } }));
      await rejectsWith(load(dir), /model\.safetensors\.index\.json: refusing file name ".*": it must be a relative path inside /);
    }
  });

  it("missing config.json", async () => {
    const dir = modelCopy("no-config");
    fs.rmSync(path.join(dir, "config.json"));
    await rejectsWith(load(dir), /config\.json: missing/);
  });

  it("missing weights", async () => {
    const dir = modelCopy("no-weights");
    fs.rmSync(path.join(dir, "model.safetensors"));
    await rejectsWith(load(dir), /no model\.safetensors or model\.safetensors\.index\.json/);
  });

  it("truncated file: header length beyond the file", async () => {
    const dir = modelCopy("truncated-header");
    const file = path.join(dir, "model.safetensors");
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
    await rejectsWith(load(dir), /header length \d+ runs past the end of the 100-byte file/);
  });

  it("header that is not JSON", async () => {
    const dir = modelCopy("bad-json");
    const { data } = realHeader();
    const garbage = Buffer.from("{not json");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(garbage.length));
    fs.writeFileSync(path.join(dir, "model.safetensors"), Buffer.concat([len, garbage, data]));
    await rejectsWith(load(dir), /header is not valid JSON/);
  });

  it("offsets out of range (a tensor runs past the data)", async () => {
    const dir = modelCopy("out-of-range");
    const { header, data } = realHeader();
    writeSafetensors(path.join(dir, "model.safetensors"), header, data.subarray(0, data.length - 1000));
    await rejectsWith(load(dir), /data_offsets \[\d+, \d+\] out of range/);
  });

  it("overlapping tensors", async () => {
    const dir = modelCopy("overlap");
    const { header, data } = realHeader();
    const [a, b] = Object.keys(header).filter((k) => k !== "__metadata__" && header[k].shape.length === 1 && header[k].shape[0] === 32);
    header[b] = { ...header[b], data_offsets: header[a].data_offsets };
    writeSafetensors(path.join(dir, "model.safetensors"), header, data);
    await rejectsWith(load(dir), /tensors .* and .* overlap/);
  });

  it("shape × dtype ≠ byte length", async () => {
    const dir = modelCopy("bad-length");
    const { header, data } = realHeader();
    header["transformer.wpe.weight"] = { ...header["transformer.wpe.weight"], shape: [65, 32] };
    writeSafetensors(path.join(dir, "model.safetensors"), header, data);
    await rejectsWith(load(dir), /transformer\.wpe\.weight: shape \[65, 32\] × F32 needs 8320 bytes but data_offsets span 8192/);
  });

  it("a weight too large for --dtype f16 (|w| > 63.97)", async () => {
    const dir = modelCopy("f16-overflow");
    const { header, data } = realHeader();
    const bytes = Buffer.from(data);
    bytes.writeFloatLE(100, header["transformer.h.0.mlp.c_fc.weight"].data_offsets[0] + 4 * 7);
    writeSafetensors(path.join(dir, "model.safetensors"), header, bytes);
    await rejectsWith(LLM.load(dir, { backend: "reference", dtype: "f16" }), /weight 100 is too large for F16 storage, which holds \|w\| ≤ 63\.96875; load with dtype f32 or q8/);
    (await LLM.load(dir, { backend: "reference", dtype: "f32" })).close();
  });

  it("unsupported dtype", async () => {
    const dir = modelCopy("bad-dtype");
    const { header, data } = realHeader();
    header["transformer.wpe.weight"] = { ...header["transformer.wpe.weight"], dtype: "F64", shape: [32, 32] };
    writeSafetensors(path.join(dir, "model.safetensors"), header, data);
    await rejectsWith(load(dir), /unsupported dtype F64/);
  });

  it("unsupported architecture", async () => {
    const dir = modelCopy("mamba");
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, model_type: "mamba", architectures: ["MambaForCausalLM"] }));
    await rejectsWith(load(dir), /unsupported architecture MambaForCausalLM \(model_type "mamba"\); supported: gpt2, llama, qwen2, qwen3$/);
  });

  it("config and weights disagree", async () => {
    const dir = modelCopy("disagree");
    const config = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8"));
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...config, n_embd: 64 }));
    await rejectsWith(load(dir), /tensor wte\.weight has shape \[50257, 32\] but config\.json implies \[50257, 64\]/);
  });

  it("a tensor missing from the checkpoint", async () => {
    const dir = modelCopy("missing-tensor");
    const { header, data } = realHeader();
    delete header["transformer.h.1.mlp.c_fc.bias"];
    writeSafetensors(path.join(dir, "model.safetensors"), header, data);
    await rejectsWith(load(dir), /tensor h\.1\.mlp\.c_fc\.bias is missing/);
  });
});

describe("bad generation requests get a clear error", () => {
  it("prompt + max tokens beyond the context names the numbers", async () => {
    const llm = await load(source);
    try {
      assert.throws(() => llm.generateBatch(["Hello world"], { maxTokens: 63 }), /prompt \(2 tokens\) \+ max_tokens \(63\) = 65 exceeds the context of 64 tokens/);
      assert.throws(() => llm.generateBatch([[1, 99999]], { maxTokens: 1 }), /token id 99999 is outside the vocabulary/);
    } finally {
      llm.close();
    }
  });

  const invalid: [string, object, RegExp][] = [
    ["temperature", { temperature: -1 }, /invalid temperature -1: must be a number >= 0/],
    ["top_p", { topP: 1.5 }, /invalid top_p 1\.5: must be in \(0, 1\]/],
    ["top_p zero", { topP: 0 }, /invalid top_p 0/],
    ["top_k", { topK: 2.5 }, /invalid top_k 2\.5/],
    ["min_p", { minP: -0.1 }, /invalid min_p -0\.1/],
    ["repetition_penalty", { repetitionPenalty: 0 }, /invalid repetition_penalty 0/],
    ["presence_penalty", { presencePenalty: 3 }, /invalid presence_penalty 3/],
    ["frequency_penalty", { frequencyPenalty: -2.5 }, /invalid frequency_penalty -2\.5/],
    ["max_tokens", { maxTokens: -5 }, /invalid max_tokens -5/],
    ["seed", { seed: -1 }, /invalid seed -1/],
    ["stop", { stop: [""] }, /invalid stop/],
  ];
  for (const [name, params, pattern] of invalid) {
    it(`invalid ${name}`, () => assert.throws(() => resolveSamplingParams(params), pattern));
  }
});

describe("the CLI prints one line and exits non-zero", () => {
  const cli = path.join(repoRoot, "dist", "src", "cli", "main.js");
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args, "--backend", "reference"], { encoding: "utf8" });
  const cases: [string, string[], RegExp][] = [
    ["missing model folder", ["hi", "--model", "/nonexistent/model"], /model folder \/nonexistent\/model does not exist/],
    ["bad temperature", ["hi", "--temperature", "-2"], /invalid temperature -2/],
    ["not a number", ["hi", "--top-p", "abc"], /--top-p must be a number, got "abc"/],
    ["unknown flag", ["hi", "--frobnicate"], /Unknown option '--frobnicate'/],
    ["too long for the context", ["hi", "--max-tokens", "300"], /prompt \(2 tokens\) \+ max_tokens \(300\) = 302 exceeds the context of 256 tokens/],
    ["perplexity without a file", ["perplexity"], /perplexity needs --file/],
    ["unreadable file", ["tokenize", "--file", "/nonexistent.txt"], /cannot read \/nonexistent\.txt/],
    ["negative warm-up", ["bench", "--warmup", "-1"], /--warmup must be an integer >= 0, got "-1"/],
    ["unknown SIMD level", ["hi", "--simd", "avx512"], /--simd must be one of auto, relaxed, baseline, got "avx512"/],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, () => {
      const r = run(...args);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  }

  it("--json generate prints one object with ids and timings", () => {
    const r = run("ROMEO:", "--max-tokens", "12", "--temperature", "0", "--json");
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.prompt_tokens, [82, 79, 77, 69, 79, 58]);
    assert.deepEqual(out.tokens, [10, 73, 32, 119, 105, 108, 108, 32, 110, 111, 116, 32]);
    assert.equal(out.text, "\nI will not ");
    assert.ok(out.timings.generatedTokensPerSecond > 0);
  });

  it("--dtype f16: the same greedy tokens as f32 (the default model is F16 on disk), and bench reports it", () => {
    const r = run("ROMEO:", "--max-tokens", "12", "--temperature", "0", "--dtype", "f16", "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).tokens, [10, 73, 32, 119, 105, 108, 108, 32, 110, 111, 116, 32]);
    const b = run("bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "0", "--dtype", "f16", "--json");
    assert.equal(b.status, 0, b.stderr);
    assert.equal(JSON.parse(b.stdout).dtype, "f16");
    const bad = run("bench", "--dtype", "f8");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--dtype must be one of f32, f16, q8/);
  });

  it("--simd: relaxed by default, turned on at startup where Node keeps it behind a flag; baseline on request", () => {
    const cases: [string[], string][] = [[[], "relaxed"], [["--simd", "relaxed"], "relaxed"], [["--simd", "baseline"], "baseline"]];
    for (const [flags, level] of cases) {
      const args = ["bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "0", "--dtype", "q8", "--threads", "1", "--json", ...flags];
      const b = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
      assert.equal(b.status, 0, b.stderr);
      assert.match(JSON.parse(b.stdout).backend, new RegExp(`^wasm-simd\\(${level},`), flags.join(" "));
    }
  });

  it("bench: a run longer than the context fails with the generation's error, before any ceiling pass", () => {
    const long = run("bench", "--prompt-len", "250", "--gen", "100", "--warmup", "0", "--repeat", "1");
    assert.equal(long.status, 1);
    assert.match(long.stderr, /prompt \(250 tokens\) \+ max_tokens \(100\) = 350 exceeds the context of 256 tokens/);
  });

  it("bench --json prints the benchmark's keys", () => {
    const r = run("bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "1", "--json");
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    for (const key of ["prefill_tok_s", "decode_tok_s", "ttft_ms", "peak_rss_mb", "load_ms", "read_gb_s", "decode_ceiling_tok_s"]) assert.ok(out[key] > 0, `${key}: ${out[key]}`);
    assert.deepEqual([out.prompt_len, out.gen, out.dtype], [4, 3, "f32"]);
    // Every block's four matrices and the tied head, in f32: 4 · (12 · n_layer · C² + V · C).
    assert.equal(out.weight_bytes_per_token, 4 * (12 * 6 * 256 * 256 + 257 * 256));
    // Keys and values of every layer at the mean position, P + round(G / 2) = 6: 4 · 2 · n_layer · 6 · C.
    assert.equal(out.kv_bytes_per_token, 4 * 2 * 6 * 6 * 256);
  });

  it("bench --profile breaks down prefill and decode by kernel", () => {
    const r = run("bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "0", "--profile", "--json");
    assert.equal(r.status, 0, r.stderr);
    const { profile } = JSON.parse(r.stdout);
    // Prefill: one call per layer and kernel on the whole prompt; decode: one per layer, kernel and step.
    const calls = (phase: { kernel: string; calls: number }[], kernel: string) => phase.find((p) => p.kernel === kernel)?.calls;
    assert.equal(calls(profile.prefill, "attention"), 6);
    assert.equal(calls(profile.decode, "attention"), 6 * 2);
    for (const p of [...profile.prefill, ...profile.decode]) assert.ok(p.ms >= 0 && p.share >= 0 && p.share <= 1, JSON.stringify(p));
    const text = run("bench", "--prompt-len", "4", "--gen", "3", "--repeat", "1", "--warmup", "0", "--profile");
    assert.match(text.stdout, /prefill profile \(last run, [\d.]+ ms\):\n  matmul /);
    assert.match(text.stdout, /decode profile \(last run, [\d.]+ ms\):\n  matmul /);
  });

  it("tokenize --json and perplexity --json", () => {
    const t = run("tokenize", "--json", "ROMEO:");
    assert.deepEqual(JSON.parse(t.stdout), { ids: [82, 79, 77, 69, 79, 58] });
    const p = run("perplexity", "--json", "--file", path.join(fixtures, "shakespeare-val-40x256.txt"), "--context", "256");
    assert.equal(p.status, 0, p.stderr);
    const out = JSON.parse(p.stdout);
    assert.equal(out.tokens, 10240);
    assert.ok(Math.abs(out.nll - 1.2828) < 1e-3, `nll ${out.nll}`);
  });
});
