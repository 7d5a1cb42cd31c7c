import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { UserError } from "../src/errors.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import { loadModel } from "../src/model/load.js";
import { loadGGUFTokenizer } from "../src/tokenizer/index.js";
import { fixtureModel } from "./paths.js";

/**
 * Every way a GGUF file can be broken must end in one line naming the file and the problem,
 * never a crash or a huge allocation. Each case patches a copy of a good file.
 */

let work: string;
let good: Buffer;
let count = 0;

/** Offset just past a GGUF-encoded string (u64 length + bytes) equal to `s`. */
function after_(buf: Buffer, s: string): number {
  const bytes = Buffer.from(s, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(bytes.length));
  const at = buf.indexOf(Buffer.concat([prefix, bytes]));
  assert.ok(at >= 0, `${s} not found`);
  return at + 8 + bytes.length;
}

function variant(patch: (buf: Buffer) => Buffer | void): string {
  const buf = Buffer.from(good);
  const out = patch(buf) ?? buf;
  const file = path.join(work, `case-${count++}.gguf`);
  fs.writeFileSync(file, out);
  return file;
}

async function rejects(file: string, pattern: RegExp): Promise<void> {
  const backend = createReferenceBackend();
  await assert.rejects(loadModel(file, backend, "f32"), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.includes(file), `names the file: ${e.message}`);
    assert.ok(!e.message.includes("\n"), `one line: ${e.message}`);
    return true;
  });
}

describe("corrupt and unsupported GGUF files", () => {
  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-gguf-bad-"));
    const file = path.join(work, "good.gguf");
    await convertCommand({ model: fixtureModel("gpt2-tiny-random"), to: "gguf", dtype: "f32", out: file, quiet: true });
    good = fs.readFileSync(file);
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it("the unpatched file loads", async () => {
    const backend = createReferenceBackend();
    const m = await loadModel(variant(() => {}), backend, "f32");
    assert.equal(m.model.shape.nLayer, 2);
  });

  it("missing file", () => rejects(path.join(work, "nope.gguf"), /cannot open GGUF file \(no such file\)/));

  it("bad magic", () => rejects(variant((b) => void b.write("GGUX", 0)), /not a GGUF file \(bad magic; expected "GGUF"\)/));

  it("a newer version", () => rejects(variant((b) => void b.writeUInt32LE(4, 4)), /GGUF version 4 is not supported \(supported: 2, 3\)/));

  it("a big-endian file", () => rejects(variant((b) => void b.writeUInt32BE(3, 4)), /big-endian GGUF files are not supported/));

  it("a tensor count larger than the file", () => rejects(variant((b) => void b.writeBigUInt64LE(1_000_000_000n, 8)), /tensor count 1000000000 is larger than the \d+-byte file allows/));

  it("a metadata count larger than the file", () => rejects(variant((b) => void b.writeBigUInt64LE(1n << 40n, 16)), /metadata count 1099511627776 is larger than the \d+-byte file allows/));

  it("an array count larger than the file", () =>
    rejects(
      variant((b) => void b.writeBigUInt64LE(1n << 36n, after_(b, "tokenizer.ggml.tokens") + 8)),
      /tokenizer\.ggml\.tokens: array count 68719476736 is larger than the file/,
    ));

  it("a token string running past the end (stepped over when the weights are read, decoded by the tokenizer's worker)", async () => {
    const file = variant((b) => void b.writeBigUInt64LE(1n << 40n, after_(b, "tokenizer.ggml.tokens") + 4 + 4 + 8)); // type, element type, count
    await rejects(file, /tokenizer\.ggml\.tokens\[0\]: string length 1099511627776 runs past the end/);
    await assert.rejects(loadGGUFTokenizer(file), (e: unknown) => e instanceof UserError && /tokenizer\.ggml\.tokens\[0\]: string length 1099511627776 runs past the end/.test(e.message));
  });

  it("a string running past the end", () =>
    rejects(variant((b) => void b.writeBigUInt64LE(1n << 40n, after_(b, "general.architecture") + 4)), /value of general\.architecture: string length 1099511627776 runs past the end/));

  it("a file cut inside the header", () =>
    rejects(variant((b) => b.subarray(0, after_(b, "blk.0.attn_qkv.weight") + 6)), /truncated: dimension 0 of blk\.0\.attn_qkv\.weight at byte \d+ needs 8 bytes but the file ends at \d+/));

  it("a file cut inside the metadata", () => rejects(variant((b) => b.subarray(0, 5000)), /tokenizer\.ggml\.tokens: array count 50257 is larger than the file \(\d+ bytes left\)/));

  it("a tensor that runs past the end of the file", () =>
    rejects(variant((b) => b.subarray(0, b.length - 100)), /tensor \S+ \(F32 \[\d+\], bytes \d+\.\.\d+\) runs past the end of the \d+-byte file \(truncated\?\)/));

  it("a misaligned data offset", () =>
    rejects(
      variant((b) => {
        // name, then u32 n_dims, two u64 dims, u32 type, u64 offset
        const at = after_(b, "blk.0.attn_qkv.weight") + 4 + 16 + 4;
        b.writeBigUInt64LE(b.readBigUInt64LE(at) + 8n, at);
      }),
      /tensor blk\.0\.attn_qkv\.weight: data offset \d+ is not a multiple of the alignment 32 \(misaligned\)/,
    ));

  it("too many dimensions", () => rejects(variant((b) => void b.writeUInt32LE(5, after_(b, "blk.0.ffn_up.bias"))), /tensor blk\.0\.ffn_up\.bias has 5 dimensions/));

  it("an unknown tensor type", () => rejects(variant((b) => void b.writeUInt32LE(200, after_(b, "blk.0.attn_qkv.weight") + 4 + 16)), /tensor blk\.0\.attn_qkv\.weight has unknown ggml type 200/));

  it("a tensor type this engine cannot read", () =>
    rejects(variant((b) => void b.writeUInt32LE(20, after_(b, "blk.0.attn_qkv.weight") + 4 + 16)), /tensor blk\.0\.attn_qkv\.weight has type IQ4_NL, which this engine cannot read \(supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16\)/));

  it("another architecture", () =>
    rejects(variant((b) => void b.write("gptj", after_(b, "general.architecture") + 4 + 8)), /unsupported architecture "gptj" \(supported: gpt2, llama, qwen2, qwen3\)/));

  it("another tokenizer", () => rejects(variant((b) => void b.write("bert", after_(b, "tokenizer.ggml.model") + 4 + 8)), /unsupported tokenizer\.ggml\.model "bert"/));

  it("a missing tensor", () => rejects(variant((b) => void b.write("X", after_(b, "blk.1.ffn_up.bias") - 1)), /tensor blk\.1\.ffn_up\.bias is missing/));

  it("a layer beyond block_count", () => rejects(variant((b) => void b.write("7", after_(b, "blk.1.ffn_up.bias") - "1.ffn_up.bias".length)), /tensor blk\.7\.ffn_up\.bias is beyond block_count 2/));

  it("missing hyperparameters", () => rejects(variant((b) => void b.write("X", after_(b, "gpt2.block_count") - 1)), /metadata gpt2\.block_count is missing/));
});
