import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { convertCommand } from "../src/cli/convert.js";
import { LLM } from "../src/engine/llm.js";
import { GGMLType, ggmlTypeName } from "../src/io/gguf.js";
import { MIXES, mixType, useMoreBits, type Mix, type MixModel, type TensorRole } from "../src/io/gguf-mix.js";
import { readGGUF, type GGUFTensorInfo } from "../src/io/gguf-read.js";
import { writeRandomLlamaFolder } from "../scripts/make-random-llama.js";
import { writeForeignFolder } from "../scripts/foreign-gguf/configs.js";
import { fixtures } from "./paths.js";

/**
 * convert --dtype q4_k_m / q5_k_m: the type of every tensor is the one llama.cpp's quantizer
 * gives it (test/fixtures/gguf-mix/, written by scripts/quant-goldens/make-mix-goldens.ts through
 * libllama's llama_quant_compute_types) for real model shapes; converted files carry those types
 * and run.
 */

const ROLES: readonly TensorRole[] = ["token_embd", "position_embd", "output", "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

/** A GGUF tensor name as (role, layer); layer 0 outside the blocks. */
function roleOf(name: string): { role: TensorRole; layer: number } {
  const m = /^(?:blk\.(\d+)\.)?(\w+)\.weight$/.exec(name);
  const role = ROLES.find((r) => r === m?.[2]);
  if (m === null || role === undefined) throw new Error(`no role for ${name}`);
  return { role, layer: m[1] === undefined ? 0 : Number(m[1]) };
}

interface Golden {
  readonly model: MixModel;
  readonly tensors: readonly { name: string; cols: number; rows: number; types: Record<Mix, string> }[];
}

function readGolden(file: string): Golden {
  const [header, ...lines] = fs.readFileSync(path.join(fixtures, "gguf-mix", file), "utf8").trim().split("\n");
  const [arch, , , nLayer, nHead, nKVHead, , , tied] = header.split(" ");
  const model: MixModel = { arch, nLayer: Number(nLayer), nHead: Number(nHead), nKVHead: Number(nKVHead), tiedOutput: tied === "true" };
  const tensors = lines.map((line) => {
    const [name, cols, rows, q4, q5] = line.split(" ");
    return { name, cols: Number(cols), rows: Number(rows), types: { q4_k_m: q4, q5_k_m: q5 } };
  });
  return { model, tensors };
}

describe("q4_k_m and q5_k_m choose each tensor's type as llama.cpp's quantizer does", () => {
  const files = fs.readdirSync(path.join(fixtures, "gguf-mix")).filter((f) => f.endsWith(".txt"));
  it("the goldens cover the families' real shapes", () => {
    for (const f of ["smollm2-135m.txt", "qwen2.5-0.5b.txt", "qwen3-0.6b.txt", "llama-3.1-8b.txt", "llama-70b.txt", "gpt2-124m.txt"]) assert.ok(files.includes(f), f);
  });
  for (const file of files) {
    for (const mix of MIXES) {
      it(`${file.replace(/\.txt$/, "")} ${mix}: every matrix as llama-quantize, 1-D tensors F32`, () => {
        const { model, tensors } = readGolden(file);
        const counts = new Map<string, number>();
        for (const t of tensors) {
          const want = t.types[mix];
          if (t.rows === 0) {
            assert.equal(want, "F32", t.name);
            continue;
          }
          const got = ggmlTypeName(mixType(mix, model, { ...roleOf(t.name), cols: t.cols }));
          assert.equal(got, want, `${t.name} [${t.cols}, ${t.rows}]`);
          counts.set(got, (counts.get(got) ?? 0) + 1);
        }
        // The goldens are a mix, not one type: at least the Q6_K layers and one other type.
        assert.ok(counts.size >= 2, JSON.stringify([...counts]));
      });
    }
  }

  it("useMoreBits picks the first and last eighth and every third layer between (30 layers: SmolLM2)", () => {
    const picked = Array.from({ length: 30 }, (_, l) => l).filter((l) => useMoreBits(l, 30));
    assert.deepEqual(picked, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
  });
});

describe("convert --dtype q4_k_m / q5_k_m of random Llama-family checkpoints", () => {
  let work: string;
  before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-gguf-mix-"))));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  // Rows of 256 so the K-quants apply; 8 layers so useMoreBits picks some (0, 3, 6, 7) and not others.
  const common = { hidden_act: "silu", bos_token_id: 1, eos_token_id: 2, torch_dtype: "float32", max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 10000 };
  const configs: Record<string, Record<string, unknown>> = {
    llama: { ...common, architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: 256, intermediate_size: 512, num_hidden_layers: 8, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 320, tie_word_embeddings: true },
    qwen2: { ...common, architectures: ["Qwen2ForCausalLM"], model_type: "qwen2", hidden_size: 256, intermediate_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 1, vocab_size: 300, tie_word_embeddings: false },
  };

  /** Relative RMS difference of the logits at every position of `ids`, b against a. */
  function logitError(a: LLM, b: LLM, ids: number[]): number {
    const ref: Float32Array[] = [];
    a.forEachPositionLogits(ids, (_, logits) => ref.push(logits.slice()));
    let err = 0;
    let norm = 0;
    b.forEachPositionLogits(ids, (pos, logits) => {
      for (let i = 0; i < logits.length; i++) {
        err += (logits[i] - ref[pos][i]) ** 2;
        norm += ref[pos][i] ** 2;
      }
    });
    return Math.sqrt(err / norm);
  }

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

  // test/fixtures/foreign-gguf (llama.cpp's gguf-py and ggml-quants.c, scripts/foreign-gguf/): llama.gguf
  // is its folder mixed as Q4_K_M, qwen2.gguf as Q5_K_M; one layer, so useMoreBits picks it.
  for (const [kind, mix] of [["llama", "q4_k_m"], ["qwen2", "q5_k_m"]] as const) {
    it(`${kind} ${mix}: every tensor in the type and the bytes of llama.cpp's tools' file of the same weights`, async () => {
      const out = path.join(work, `foreign-${kind}-${mix}.gguf`);
      await convertCommand({ model: writeForeignFolder(path.join(work, `foreign-${kind}`), kind), to: "gguf", dtype: mix, out, quiet: true });
      const ours = readGGUF(out);
      const theirs = readGGUF(path.join(fixtures, "foreign-gguf", `${kind}.gguf`));
      assert.equal(ours.tensors.length, theirs.tensors.length);
      for (const t of ours.tensors) {
        const other = theirs.tensors.find((x) => x.name === t.name);
        assert.ok(other !== undefined, t.name);
        assert.equal(ggmlTypeName(t.type), ggmlTypeName(other.type), t.name);
        assert.ok(tensorBytes(t).equals(tensorBytes(other)), `${t.name} (${ggmlTypeName(t.type)}): bytes differ from llama.cpp's`);
      }
    });
  }

  for (const [kind, config] of Object.entries(configs)) {
    it(`${kind}: the file's types are the mix's, its file_type llama_ftype's; it loads and generates close to the f32 model, q5_k_m closer`, async () => {
      const folder = writeRandomLlamaFolder(path.join(work, kind), config, { std: 0.05 });
      const f32 = await LLM.load(folder, { backend: "reference" });
      const errors: Record<string, number> = {};
      try {
        const ids = [1, 5, 9, 17, 3, 200, 41];
        for (const mix of MIXES) {
          const out = path.join(work, `${kind}-${mix}.gguf`);
          await convertCommand({ model: folder, to: "gguf", dtype: mix, out, quiet: true });
          const g = readGGUF(out);
          assert.equal(g.metadata.get("general.file_type"), mix === "q4_k_m" ? 15 : 17);
          const model: MixModel = { arch: kind, nLayer: Number(config.num_hidden_layers), nHead: 4, nKVHead: Number(config.num_key_value_heads), tiedOutput: config.tie_word_embeddings === true };
          const seen = new Set<string>();
          for (const t of g.tensors) {
            if (t.dims.length === 1) {
              assert.equal(t.type, GGMLType.F32, t.name);
              continue;
            }
            assert.equal(ggmlTypeName(t.type), ggmlTypeName(mixType(mix, model, { ...roleOf(t.name), cols: t.dims[0] })), t.name);
            seen.add(ggmlTypeName(t.type));
          }
          assert.ok(seen.has("Q6_K") && seen.has(mix === "q4_k_m" ? "Q4_K" : "Q5_K"), [...seen].join(","));
          const q = await LLM.load(out, { backend: "reference" });
          try {
            const tokens = q.generateBatch([ids], { temperature: 0, maxTokens: 6, ignoreEos: true })[0].tokens;
            assert.equal(tokens.length, 6);
            errors[mix] = logitError(f32, q, ids);
          } finally {
            q.close();
          }
        }
      } finally {
        f32.close();
      }
      // A random 4-8 layer net amplifies rounding (q4_k_m ~0.27 here); a misplaced row or a wrong
      // block would put it near 1. One more bit should roughly halve it.
      assert.ok(errors.q4_k_m < 0.4, `q4_k_m logits differ from f32 by ${errors.q4_k_m}`);
      assert.ok(errors.q5_k_m < 0.75 * errors.q4_k_m, `q5_k_m (${errors.q5_k_m}) is closer to f32 than q4_k_m (${errors.q4_k_m})`);
    });
  }
});
