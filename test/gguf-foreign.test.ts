import { diskFolder } from "../src/io/disk.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { LLM } from "../src/engine/llm.js";
import { GGMLType, ggmlTypeName } from "../src/io/gguf.js";
import { readGGUF } from "../src/io/gguf-read.js";
import type { Matrix } from "../src/kernels/backend.js";
import { createReferenceBackend } from "../src/kernels/reference.js";
import { parseLlamaConfig } from "../src/model/families/llama/config.js";
import { LLAMA_STYLE_VARIANTS } from "../src/model/families/llama/index.js";
import { llamaConfigFromGGUF, loadLlamaGGUF } from "../src/model/families/llama/load-gguf.js";
import { loadLlamaSafetensors } from "../src/model/families/llama/load-safetensors.js";
import type { LlamaWeights } from "../src/model/families/llama/weights.js";
import { familyOfGGUF } from "../src/model/families/index.js";
import { readConfigJson } from "../src/model/load.js";
import { readMatrixRow, type WeightDType } from "../src/model/matrix.js";
import { storedKind } from "../src/model/layers/gguf-tensors.js";
import { infoCommand } from "../src/cli/info.js";
import { FOREIGN_KINDS, writeForeignFolder, type ForeignKind } from "../scripts/foreign-gguf/configs.js";
import { fixtures } from "./paths.js";

/**
 * GGUF files this engine did not write (test/fixtures/foreign-gguf/, from llama.cpp's gguf-py and
 * reference quantizers by scripts/foreign-gguf/convert.py, mixing block types as Q4_K_M and
 * Q5_K_M do) against the Hugging Face folders they were converted from, rebuilt here from the
 * same seed: every weight within its block type's rounding of the original (which a wrong row
 * order or permutation is far from), and the logits of each engine dtype close to the f32 load.
 */

const dir = path.join(fixtures, "foreign-gguf");
let work: string;
before(() => (work = fs.mkdtempSync(path.join(os.tmpdir(), "nanogpt-foreign-gguf-"))));
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** Relative RMS error of a matrix stored in each type, with room: random normal weights, per 32 or 256 values. */
const ROUNDING: Record<number, number> = {
  [GGMLType.F32]: 0,
  [GGMLType.F16]: 1e-3,
  [GGMLType.BF16]: 5e-3,
  [GGMLType.Q8_0]: 1e-2,
  [GGMLType.Q6_K]: 4e-2,
  [GGMLType.Q5_0]: 6e-2,
  [GGMLType.Q5_1]: 6e-2,
  [GGMLType.Q5_K]: 6e-2,
  [GGMLType.Q4_0]: 0.13,
  [GGMLType.Q4_1]: 0.13,
  [GGMLType.Q4_K]: 0.13,
};

function relativeError(a: Matrix, b: Matrix, rows: [number, number]): number {
  const ra = new Float32Array(a.cols);
  const rb = new Float32Array(b.cols);
  let err = 0;
  let norm = 0;
  for (let r = rows[0]; r < rows[1]; r++) {
    readMatrixRow(ra, 0, a, r);
    readMatrixRow(rb, 0, b, r);
    for (let c = 0; c < a.cols; c++) {
      err += (ra[c] - rb[c]) ** 2;
      norm += rb[c] ** 2;
    }
  }
  return Math.sqrt(err / norm);
}

function allLogits(llm: LLM, ids: number[]): Float32Array[] {
  const out: Float32Array[] = [];
  llm.forEachPositionLogits(ids, (_, logits) => out.push(logits.slice()));
  return out;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((row, p) => row.forEach((v, i) => (d = Math.max(d, Math.abs(v - b[p][i])))));
  return d;
}

const IDS = [1, 5, 9, 17, 3, 30, 11, 22, 7, 2, 13, 19, 25, 6, 28, 14, 33, 4, 8, 12];

for (const kind of FOREIGN_KINDS) {
  describe(`a ${kind} GGUF from llama.cpp's gguf-py`, () => {
    const file = path.join(dir, `${kind}.gguf`);
    let folder: string;
    before(() => (folder = writeForeignFolder(path.join(work, kind), kind)));

    it("mixes block types as real files do", () => {
      const g = readGGUF(file);
      const types = new Set(g.tensors.filter((t) => t.dims.length === 2).map((t) => ggmlTypeName(t.type)));
      const expected: Record<ForeignKind, string[]> = {
        llama: ["Q4_K", "Q6_K", "Q5_0", "Q8_0"],
        qwen2: ["Q5_K", "Q6_K", "Q8_0"],
        qwen3: ["Q8_0", "Q4_0", "Q4_1", "Q5_1", "Q5_0", "F16", "BF16"],
      };
      assert.deepEqual([...types].sort(), expected[kind].sort());
    });

    it("every weight is the Hugging Face one within its block type's rounding", () => {
      const g = readGGUF(file);
      const family = familyOfGGUF(g);
      const variant = LLAMA_STYLE_VARIANTS.get(family);
      assert.ok(variant !== undefined);
      const backend = createReferenceBackend();
      try {
        const c = llamaConfigFromGGUF(g, variant);
        const hfConfig = parseLlamaConfig(readConfigJson(folder), folder, variant);
        assert.equal(c.rope.freqFactors !== undefined, kind === "llama", "rope_freqs read for Llama 3 scaling");
        const ours: LlamaWeights = loadLlamaGGUF(g, c, backend, "f32");
        const hf: LlamaWeights = loadLlamaSafetensors(diskFolder(folder), hfConfig, backend, "f32");
        const typeOf = (name: string) => {
          const t = g.tensors.find((x) => x.name === name);
          assert.ok(t !== undefined, name);
          return t.type;
        };
        const check = (label: string, a: Matrix, b: Matrix, rows: [number, number], tensor: string) => {
          const e = relativeError(a, b, rows);
          const bound = ROUNDING[typeOf(tensor)];
          assert.ok(e <= bound, `${label} (${ggmlTypeName(typeOf(tensor))}): relative error ${e.toExponential(2)} > ${bound}`);
          if (typeOf(tensor) !== GGMLType.F32) assert.ok(e > 0, `${label}: rounded, so not identical`);
        };
        const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
        check("embed", ours.embed, hf.embed, [0, c.vocabSize], "token_embd.weight");
        if (!c.tieWordEmbeddings) check("lm_head", ours.lmHead, hf.lmHead, [0, c.vocabSize], "output.weight");
        ours.blocks.forEach((b, l) => {
          const h = hf.blocks[l];
          check(`${l} q`, b.qkv, h.qkv, [0, nh * hs], `blk.${l}.attn_q.weight`);
          check(`${l} k`, b.qkv, h.qkv, [nh * hs, (nh + nkv) * hs], `blk.${l}.attn_k.weight`);
          check(`${l} v`, b.qkv, h.qkv, [(nh + nkv) * hs, (nh + 2 * nkv) * hs], `blk.${l}.attn_v.weight`);
          check(`${l} o`, b.o, h.o, [0, c.hidden], `blk.${l}.attn_output.weight`);
          check(`${l} gate`, b.gateUp, h.gateUp, [0, c.intermediate], `blk.${l}.ffn_gate.weight`);
          check(`${l} up`, b.gateUp, h.gateUp, [c.intermediate, 2 * c.intermediate], `blk.${l}.ffn_up.weight`);
          check(`${l} down`, b.down, h.down, [0, c.hidden], `blk.${l}.ffn_down.weight`);
          assert.deepEqual(b.attnNorm, h.attnNorm);
          assert.deepEqual(b.qkvBias, h.qkvBias);
          assert.deepEqual(b.qNorm, h.qNorm);
        });
        assert.deepEqual(ours.norm, hf.norm);
      } finally {
        backend.close();
      }
    });

    it("without --dtype keeps each matrix as stored: Q4_K as q4k and Q6_K as q6k with ggml's weights, a stack of mixed types as the widest", () => {
      const g = readGGUF(file);
      const variant = LLAMA_STYLE_VARIANTS.get(familyOfGGUF(g));
      assert.ok(variant !== undefined);
      const backend = createReferenceBackend();
      const c = llamaConfigFromGGUF(g, variant);
      const stored = loadLlamaGGUF(g, c, backend, null);
      const exact = loadLlamaGGUF(g, c, backend, "f32");
      const typeOf = (name: string) => g.tensors.find((x) => x.name === name)?.type;
      const b = stored.blocks[0];
      const parts = { qkv: ["attn_q", "attn_k", "attn_v"], o: ["attn_output"], gateUp: ["ffn_gate", "ffn_up"], down: ["ffn_down"] } as const;
      let q4k = 0;
      for (const [key, names] of Object.entries(parts) as [keyof typeof parts, readonly string[]][]) {
        const types = names.map((n) => typeOf(`blk.0.${n}.weight`));
        const m = b[key];
        if (types.every((t) => t === GGMLType.Q4_K || t === GGMLType.Q6_K) && types.every((t) => t === types[0])) {
          assert.equal(m.kind, types[0] === GGMLType.Q4_K ? "q4k" : "q6k", `${key}: all ${ggmlTypeName(types[0] ?? -1)}`);
          if (types[0] === GGMLType.Q4_K) q4k++;
          // The same weights as ggml's dequantization (the f32 load), bit for bit.
          const row = new Float32Array(m.cols), want = new Float32Array(m.cols);
          for (let r = 0; r < m.rows; r++) {
            readMatrixRow(row, 0, m, r);
            readMatrixRow(want, 0, exact.blocks[0][key], r);
            assert.deepEqual(row, want, `${key} row ${r}`);
          }
        } else if (types.some((t) => t !== types[0]) && types.every((t) => t !== GGMLType.F32 && t !== GGMLType.F16 && t !== GGMLType.BF16)) {
          assert.equal(m.kind, "q8", `${key}: mixed quantized ${types.map((t) => ggmlTypeName(t ?? -1)).join("+")}`);
        }
      }
      // llama.gguf is Q4_K_M-style: gate+up stay Q4_K; q+k+v take attn_v's Q6_K (as q8); the Q6_K embedding stays q6k.
      if (kind === "llama") {
        assert.equal(q4k, 1, "gate+up, the one whole-Q4_K stack");
        assert.equal(b.gateUp.kind, "q4k");
        assert.equal(b.qkv.kind, "q8");
        assert.equal(typeOf("token_embd.weight"), GGMLType.Q6_K);
        assert.equal(stored.embed.kind, "q6k");
      }
      if (kind === "qwen3") assert.ok(stored.blocks.every((x) => x.qkv.kind !== "q4k"));
    });

    it("info names each type's storage", async () => {
      const text = await infoCommand({ model: file, quiet: true });
      const line = text.split("\n").find((l) => l.startsWith("stored as"));
      assert.ok(line !== undefined, text);
      const types = new Set(readGGUF(file).tensors.filter((t) => t.dims.length === 2).map((t) => t.type));
      for (const t of types) assert.ok(line.includes(`${ggmlTypeName(t)} → ${storedKind(t)}`), `${ggmlTypeName(t)} in ${line}`);
      if (kind === "llama") assert.match(line, /Q4_K → q4k/);
      if (kind === "llama" || kind === "qwen2") assert.match(line, /Q6_K → q6k/);
    });

    it("logits: near the Hugging Face folder's, and each --dtype near the exact (f32) load", async () => {
      const hf = await LLM.load(folder, { backend: "reference" });
      const exact = await LLM.load(file, { backend: "reference", dtype: "f32" });
      try {
        const want = allLogits(exact, IDS);
        const reference = allLogits(hf, IDS);
        let spread = 0;
        for (const row of reference) for (const v of row) spread = Math.max(spread, Math.abs(v));
        // The file's own rounding (4 to 6 bits for most weights of llama and qwen2) moves the logits by a share of their range.
        assert.ok(maxDiff(want, reference) < 0.35 * spread, `GGUF vs folder: ${maxDiff(want, reference)} (logits up to ${spread})`);
        const tolerance: Record<"f16" | "q8", number> = { f16: 2e-2, q8: 0.2 };
        for (const dtype of ["f16", "q8"] as const) {
          const llm = await LLM.load(file, { backend: "reference", dtype });
          try {
            const d = maxDiff(allLogits(llm, IDS), want);
            assert.ok(d < tolerance[dtype], `--dtype ${dtype}: max logit difference ${d} from the f32 load`);
          } finally {
            llm.close();
          }
        }
        // Without --dtype, on the wasm kernels (q4k and q6k quantize activations to int8 per 256 as ggml's Q8_K, q8 per 32):
        // the same weights as the f32 load, so only that rounding of x moves the logits, by < 0.2.
        for (const simd of ["baseline", "auto"] as const) {
          const llm = await LLM.load(file, { threads: 2, simd });
          try {
            assert.equal(llm.dtype, null);
            const d = maxDiff(allLogits(llm, IDS), want);
            assert.ok(d < 0.2, `as stored (${simd}): max logit difference ${d} from the f32 load`);
          } finally {
            llm.close();
          }
        }
      } finally {
        exact.close();
        hf.close();
      }
    });
  });
}
