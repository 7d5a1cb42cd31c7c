import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand, runConvert } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { GGMLType, ggmlTypeName } from "../src/io/gguf.js";
import { readGGUF, type GGUFFile, type GGUFTensorInfo } from "../src/io/gguf-read.js";
import { writeForeignFolder } from "../scripts/foreign-gguf/configs.js";
import { userErrorMatching } from "./helpers.js";
import { fixtures } from "./paths.js";

/**
 * convert --dtype q4_k / q6_k of Llama-family folders against llama.cpp's own files of the same
 * weights (test/fixtures/foreign-gguf/, gguf-py with ggml's reference quantizers): every tensor
 * both write in the same type must be the same bytes, the q/k permutation and the fallback for
 * short rows included. Then the one-line errors for what cannot be read.
 */

const foreign = path.join(fixtures, "foreign-gguf");
let work: string;
before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-kquant-convert-"))));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function tensorBytes(t: GGUFTensorInfo): Buffer {
  const fd = fs.openSync(t.file, "r");
  try {
    const b = Buffer.alloc(t.byteLength);
    fs.readSync(fd, b, 0, t.byteLength, t.byteOffset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

const types = (g: GGUFFile) => Object.fromEntries(g.tensors.filter((t) => t.dims.length === 2).map((t) => [t.name, ggmlTypeName(t.type)]));

describe("convert --dtype q4_k / q6_k against llama.cpp's files of the same weights", () => {
  for (const kind of ["llama", "qwen2"] as const) {
    for (const dtype of ["q4_k", "q6_k"] as const) {
      it(`${kind} ${dtype}: K-quants where rows are whole 256-blocks, llama-quant.cpp's fallback elsewhere, same bytes as gguf-py's`, async () => {
        const folder = writeForeignFolder(path.join(work, `${kind}-src`), kind);
        const out = path.join(work, `${kind}-${dtype}.gguf`);
        await convertCommand({ model: folder, to: "gguf", dtype, out, quiet: true });
        const ours = readGGUF(out);
        const theirs = readGGUF(path.join(foreign, `${kind}.gguf`));
        const [k, fallback] = dtype === "q4_k" ? ["Q4_K", "Q5_0"] : ["Q6_K", "Q8_0"];
        for (const t of ours.tensors.filter((x) => x.dims.length === 2)) assert.equal(ggmlTypeName(t.type), t.dims[0] % 256 === 0 ? k : fallback, `${t.name} [${t.dims}]`);
        assert.equal(ours.metadata.get("general.file_type"), dtype === "q4_k" ? 14 : 18);
        let same = 0;
        for (const t of ours.tensors) {
          const other = theirs.tensors.find((x) => x.name === t.name);
          assert.ok(other !== undefined, `${t.name} is in llama.cpp's file too`);
          assert.deepEqual(t.dims, other.dims, t.name);
          if (t.type !== other.type) continue;
          assert.ok(tensorBytes(t).equals(tensorBytes(other)), `${t.name} (${ggmlTypeName(t.type)}): bytes differ from llama.cpp's`);
          same++;
        }
        assert.ok(same >= 4, `${same} tensors compared byte for byte (types: ${JSON.stringify(types(ours))} vs ${JSON.stringify(types(theirs))})`);
      });
    }
  }

  it("a converted q4_k file reads back; greedy tokens agree with llama.cpp's Q4_K_M file's", async () => {
    const folder = writeForeignFolder(path.join(work, "llama-src2"), "llama");
    const out = path.join(work, "llama-q4_k-run.gguf");
    await convertCommand({ model: folder, to: "gguf", dtype: "q4_k", out, quiet: true });
    const a = await LLM.load(out, { backend: "reference" });
    const hf = await LLM.load(folder, { backend: "reference" });
    try {
      const ids = [1, 5, 9, 17, 3];
      const exact = hf.generateBatch([ids], { temperature: 0, maxTokens: 8, ignoreEos: true })[0].tokens;
      const quantized = a.generateBatch([ids], { temperature: 0, maxTokens: 8, ignoreEos: true })[0].tokens;
      assert.equal(quantized.length, 8);
      assert.equal(quantized[0], exact[0], "the first greedy token survives 4-bit rounding of this model");
    } finally {
      a.close();
      hf.close();
    }
  });
});

/** A copy of a fixture with bytes of its header rewritten. */
function patched(name: string, edit: (b: Buffer) => void): string {
  const b = fs.readFileSync(path.join(foreign, name));
  edit(b);
  const out = path.join(work, `patched-${fs.readdirSync(work).length}-${name}`);
  fs.writeFileSync(out, b);
  return out;
}

/** Offset of a tensor's u32 type field in the header (after its name, dimension count and dims). */
function typeField(b: Buffer, tensor: string): number {
  const name = Buffer.from(tensor);
  let at = -1;
  for (let i = b.indexOf(name); i >= 0; i = b.indexOf(name, i + 1)) {
    if (b.readBigUInt64LE(i - 8) === BigInt(name.length)) at = i + name.length;
  }
  assert.ok(at > 0, tensor);
  const nDims = b.readUInt32LE(at);
  return at + 4 + 8 * nDims;
}

describe("GGUF files this engine cannot read fail in one line naming why", () => {
  it("a tensor type this engine does not read names the tensor and the type", async () => {
    for (const [type, label] of [[23, "IQ4_XS"], [11, "Q3_K"], [10, "Q2_K"]] as const) {
      const file = patched("llama.gguf", (b) => b.writeUInt32LE(type, typeField(b, "blk.0.attn_q.weight")));
      await assert.rejects(
        LLM.load(file, { backend: "reference" }),
        userErrorMatching(new RegExp(`^\\S+: tensor blk\\.0\\.attn_q\\.weight has type ${label}, which this engine cannot read \\(supported: F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16\\)$`)),
      );
    }
  });

  it("a K-quant tensor whose rows are not whole 256-value blocks is named", async () => {
    const file = patched("qwen3.gguf", (b) => b.writeUInt32LE(GGMLType.Q4_K, typeField(b, "blk.0.ffn_down.weight")));
    await assert.rejects(LLM.load(file, { backend: "reference" }), userErrorMatching(/^\S+: tensor blk\.0\.ffn_down\.weight: row length 96 is not a multiple of the Q4_K block size 256$/));
  });

  it("an unknown type number, and an unsupported architecture", async () => {
    const unknown = patched("qwen3.gguf", (b) => b.writeUInt32LE(99, typeField(b, "blk.0.ffn_down.weight")));
    await assert.rejects(LLM.load(unknown, { backend: "reference" }), userErrorMatching(/^\S+: tensor blk\.0\.ffn_down\.weight has unknown ggml type 99 \(corrupt file or a newer GGUF\)$/));
    const gemma = patched("qwen3.gguf", (b) => {
      const key = b.indexOf("general.architecture");
      const value = b.indexOf("qwen3", key);
      b.write("gemma", value);
    });
    await assert.rejects(LLM.load(gemma, { backend: "reference" }), userErrorMatching(/^\S+: unsupported architecture "gemma" \(supported: .*\)$/));
  });

  it("convert refuses a --dtype it does not write, naming the ones it does", async () => {
    await assert.rejects(
      runConvert(["--model", path.join(foreign, "qwen3.gguf"), "--dtype", "q5_k", path.join(work, "x.gguf")]),
      userErrorMatching(/^--dtype must be one of f32, f16, q8_0, q4_0, q4_k, q6_k, q4_k_m, q5_k_m, got "q5_k"$/),
    );
  });
});
