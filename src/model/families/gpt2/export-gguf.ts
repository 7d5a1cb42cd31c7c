import { GGMLType, type GGUFEntry, type WritableGGMLType } from "../../../io/gguf.js";
import type { TensorRole } from "../../../io/gguf-mix.js";
import { encode, encodedSize } from "../../../io/gguf-quant.js";
import { tokenizerMetadata, type TokenizerTables } from "../../../tokenizer/gguf.js";
import { writeGGUF, type GGUFTensorPlan } from "../../../io/gguf-write.js";
import type { Matrix } from "../../../kernels/backend.js";
import { CHUNK_BYTES, GGML_QUANT_VERSION, outTypes, type GGUFOutType } from "../../layers/gguf-out.js";
import { readMatrixRow } from "../../matrix.js";
import type { GPT2Config } from "./config.js";
import type { GPT2Weights } from "./weights.js";


export interface GGUFExportSource {
  readonly name: string;
  readonly config: GPT2Config;
  readonly weights: GPT2Weights;
  readonly tokenizer: TokenizerTables;
}

/**
 * Writes a GPT-2 model as llama.cpp's convert_hf_to_gguf.py does: its metadata keys and tensor
 * names, matrices as (out, in) rows, 1-D tensors, norms, biases and position_embd in F32 (what
 * llama.cpp keeps in F32 too), the other matrices in the types `outType` gives them (outTypes:
 * one type, or a llama-quantize mix such as Q4_K_M, falling back as llama.cpp's quantizer does
 * when a row is not whole blocks).
 */
export function writeGPT2GGUF(file: string, src: GGUFExportSource, outType: GGUFOutType): { tensors: number } {
  const { config: c, weights: w } = src;
  const types = outTypes(outType, { arch: "gpt2", nLayer: c.nLayer, nHead: c.nHead, nKVHead: c.nHead, tiedOutput: w.lmHead === w.wte });
  const metadata: [string, GGUFEntry][] = [
    ["general.architecture", { type: "string", value: "gpt2" }],
    ["general.name", { type: "string", value: src.name }],
    ["general.file_type", { type: "u32", value: types.fileType }],
    ["general.quantization_version", { type: "u32", value: GGML_QUANT_VERSION }],
    ["gpt2.context_length", { type: "u32", value: c.nPositions }],
    ["gpt2.embedding_length", { type: "u32", value: c.nEmbd }],
    ["gpt2.feed_forward_length", { type: "u32", value: c.nInner }],
    ["gpt2.block_count", { type: "u32", value: c.nLayer }],
    ["gpt2.attention.head_count", { type: "u32", value: c.nHead }],
    ["gpt2.attention.layer_norm_epsilon", { type: "f32", value: c.layerNormEpsilon }],
    ...tokenizerMetadata(src.tokenizer),
  ];

  const tensors: GGUFTensorPlan[] = [];
  const vector = (name: string, v: Float32Array): void => {
    tensors.push({ name, dims: [v.length], type: GGMLType.F32, write: (emit) => emit(new Uint8Array(v.buffer, v.byteOffset, v.length * 4)) });
  };
  /** Block `layer`'s (null: the model's) `role` matrix. */
  const matrix = (role: TensorRole, layer: number | null, m: Matrix): void => {
    const t = types.matrixType({ role, layer: layer ?? 0, cols: m.cols });
    const name = layer === null ? `${role}.weight` : `blk.${layer}.${role}.weight`;
    tensors.push({ name, dims: [m.cols, m.rows], type: t, write: (emit) => writeRows(m, t, emit) });
  };

  matrix("token_embd", null, w.wte);
  const wpe: Matrix = { kind: "f32", rows: c.nPositions, cols: c.nEmbd, data: w.wpe };
  matrix("position_embd", null, wpe);
  w.blocks.forEach((b, l) => {
    const p = `blk.${l}`;
    vector(`${p}.attn_norm.weight`, b.ln1.weight);
    vector(`${p}.attn_norm.bias`, b.ln1.bias);
    matrix("attn_qkv", l, b.attnQKV);
    vector(`${p}.attn_qkv.bias`, b.attnQKVBias);
    matrix("attn_output", l, b.attnProj);
    vector(`${p}.attn_output.bias`, b.attnProjBias);
    vector(`${p}.ffn_norm.weight`, b.ln2.weight);
    vector(`${p}.ffn_norm.bias`, b.ln2.bias);
    matrix("ffn_up", l, b.mlpFc);
    vector(`${p}.ffn_up.bias`, b.mlpFcBias);
    matrix("ffn_down", l, b.mlpProj);
    vector(`${p}.ffn_down.bias`, b.mlpProjBias);
  });
  vector("output_norm.weight", w.lnF.weight);
  vector("output_norm.bias", w.lnF.bias);
  // A tied head is not written: llama.cpp falls back to token_embd when output is absent.
  if (w.lmHead !== w.wte) matrix("output", null, w.lmHead);

  writeGGUF(file, metadata, tensors);
  return { tensors: tensors.length };
}

/** Encodes a matrix a few MB of rows at a time, so no second full-size copy is ever made. */
function writeRows(m: Matrix, type: WritableGGMLType, emit: (bytes: Uint8Array) => void): void {
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (m.cols * 4)));
  const rows = new Float32Array(Math.min(rowsPerChunk, m.rows) * m.cols);
  const out = Buffer.alloc(encodedSize(type, rows.length));
  for (let r0 = 0; r0 < m.rows; r0 += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, m.rows - r0);
    if (m.kind === "f32") {
      rows.set(m.data.subarray(r0 * m.cols, (r0 + n) * m.cols));
    } else {
      for (let r = 0; r < n; r++) readMatrixRow(rows, r * m.cols, m, r0 + r);
    }
    const bytes = encodedSize(type, n * m.cols);
    encode(type, rows, n * m.cols, out);
    emit(out.subarray(0, bytes));
  }
}
