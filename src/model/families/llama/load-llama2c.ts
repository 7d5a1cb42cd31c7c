import fs from "node:fs";
import { llama2cLayout, readLlama2cFloats, type Llama2cArray, type Llama2cHeader } from "../../../io/llama2c.js";
import { UserError } from "../../../errors.js";
import { checkFinite } from "../../../io/safetensors.js";
import { Q8_BLOCK, type Backend, type Matrix } from "../../../kernels/backend.js";
import { ropeTables } from "../../layers/rope.js";
import { allocMatrix, type WeightDType } from "../../matrix.js";
import type { ModelSpec } from "../../model.js";
import type { LlamaConfig } from "./config.js";
import { llamaSpec } from "./index.js";
import type { LlamaBlockWeights, LlamaWeights } from "./weights.js";

/** run.c ends a story when the model picks BOS (id 1); the TinyStories models never emit EOS. */
export const LLAMA2C_STOP_TOKEN = 1;

/** Floats staged at a time while converting a matrix. */
const STAGING_FLOATS = 1 << 16;

/** run.c's fixed hyperparameters: rmsnorm eps 1e-5, RoPE base 10000, no biases. */
export function llama2cConfig(h: Llama2cHeader): LlamaConfig {
  return {
    nLayer: h.nLayers,
    hidden: h.dim,
    intermediate: h.hiddenDim,
    heads: { nHead: h.nHeads, nKVHead: h.nKVHeads, headDim: h.headSize },
    vocabSize: h.vocabSize,
    contextLength: h.seqLen,
    rmsNormEps: 1e-5,
    rope: { theta: 10000, scaling: { type: "default" } },
    qkvBias: false,
    outputBias: false,
    mlpBias: false,
    qkNorm: false,
    tieWordEmbeddings: h.sharedClassifier,
    eosTokenIds: [LLAMA2C_STOP_TOKEN],
  };
}

export function llama2cSpec(h: Llama2cHeader): ModelSpec {
  const config = llama2cConfig(h);
  return llamaSpec("llama", config, (backend, dtype) => loadLlama2cWeights(h, config, backend, dtype ?? "f32"));
}

/**
 * Reads a llama2.c checkpoint into the Llama family's layout: wq, wk, wv stacked into qkv and
 * w1 (gate), w3 (up) into gateUp. run.c rotates adjacent pairs (x[2i], x[2i+1]) while the rope
 * kernel rotates halves (x[i], x[i + hs/2]), as Hugging Face does; moving row 2i of each q and k
 * head to i and row 2i+1 to hs/2 + i makes the two agree (the `permute` of HF's
 * convert_llama_weights_to_hf), so the forward pass is the family's own.
 */
export function loadLlama2cWeights(h: Llama2cHeader, c: LlamaConfig, backend: Backend, dtype: WeightDType): LlamaWeights {
  // q8 scales blocks of 32 along each row; tiny llama2.c models (hidden_dim 172) have other widths.
  const odd = Object.entries({ dim: h.dim, hidden_dim: h.hiddenDim }).find(([, n]) => n % Q8_BLOCK !== 0);
  if (dtype === "q8" && odd !== undefined) throw new UserError(`${h.file}: --dtype q8 needs row widths that are multiples of ${Q8_BLOCK}, but ${odd[0]} is ${odd[1]} (use f32 or f16)`);
  const layout = llama2cLayout(h);
  const fd = fs.openSync(h.file, "r");
  try {
    const stage = backend.allocF32(Math.max(STAGING_FLOATS, h.headSize * h.dim, h.hiddenDim));
    const raw = new Float32Array(stage.length);
    const at = (name: Llama2cArray, layer: number) => {
      const a = layout.arrays.get(name);
      if (a === undefined) throw new Error(`llama2.c layout has no ${name}`);
      return { offset: a.offset + layer * a.rows * a.cols, rows: a.rows, cols: a.cols };
    };
    const vector = (name: Llama2cArray, layer: number): Float32Array => {
      const { offset, cols } = at(name, layer);
      const out = backend.allocF32(cols);
      readLlama2cFloats(fd, offset, out, cols);
      checkFinite(out, cols, () => `${h.file}: ${name} of layer ${layer}`);
      return out;
    };
    // One matrix whose rows are those of each part in turn; `rotaryHeads` parts get their rows permuted per head.
    const stacked = (parts: { name: Llama2cArray; layer: number; rotaryHeads?: boolean }[]): Matrix => {
      const shapes = parts.map((p) => ({ ...p, ...at(p.name, p.layer) }));
      const cols = shapes[0].cols;
      const m = allocMatrix(backend, shapes.reduce((n, s) => n + s.rows, 0), cols, dtype);
      let firstRow = 0;
      for (const s of shapes) {
        const hs = h.headSize;
        // Whole heads per slice, so a permutation never crosses one.
        const sliceRows = s.rotaryHeads ? Math.max(1, Math.floor(stage.length / cols / hs)) * hs : Math.floor(stage.length / cols);
        for (let r = 0; r < s.rows; r += sliceRows) {
          const n = Math.min(sliceRows, s.rows - r);
          readLlama2cFloats(fd, s.offset + r * cols, raw, n * cols);
          checkFinite(raw, n * cols, () => `${h.file}: ${s.name} of layer ${s.layer}`, r * cols);
          for (let i = 0; i < n; i++) {
            const to = s.rotaryHeads ? rotateHalfRow(i, hs) : i;
            stage.set(raw.subarray(i * cols, (i + 1) * cols), to * cols);
          }
          backend.writeMatrixRows(m, firstRow + r, stage, n);
        }
        firstRow += s.rows;
      }
      return m;
    };
    const blocks: LlamaBlockWeights[] = [];
    for (let l = 0; l < h.nLayers; l++) {
      blocks.push({
        attnNorm: vector("rmsAtt", l),
        qkv: stacked([
          { name: "wq", layer: l, rotaryHeads: true },
          { name: "wk", layer: l, rotaryHeads: true },
          { name: "wv", layer: l },
        ]),
        qkvBias: null,
        qNorm: null,
        kNorm: null,
        o: stacked([{ name: "wo", layer: l }]),
        oBias: null,
        mlpNorm: vector("rmsFfn", l),
        gateUp: stacked([
          { name: "w1", layer: l },
          { name: "w3", layer: l },
        ]),
        gateUpBias: null,
        down: stacked([{ name: "w2", layer: l }]),
        downBias: null,
      });
    }
    const embed = stacked([{ name: "embedding", layer: 0 }]);
    const lmHead = h.sharedClassifier ? embed : stacked([{ name: "classifier", layer: 0 }]);
    return { embed, blocks, norm: vector("rmsFinal", 0), lmHead, rope: ropeTables(backend, h.headSize, c.contextLength, c.rope) };
  } finally {
    fs.closeSync(fd);
  }
}

/** Where row j of a head in run.c's interleaved layout goes in the rotate-half layout. */
export function rotateHalfRow(j: number, hs: number): number {
  const head = Math.floor(j / hs) * hs;
  const k = j - head;
  return head + (k % 2 === 0 ? k / 2 : hs / 2 + (k - 1) / 2);
}
