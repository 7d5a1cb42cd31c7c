import { UserError } from "../../../errors.js";
import { GGMLType, type GGUFEntry, type WritableGGMLType } from "../../../io/gguf.js";
import type { TensorRole } from "../../../io/gguf-mix.js";
import { encode, encodedSize } from "../../../io/gguf-quant.js";
import { idsOnlyTokenizerMetadata, tokenizerMetadata, type TokenizerTables } from "../../../tokenizer/gguf.js";
import { writeGGUF, type GGUFTensorPlan } from "../../../io/gguf-write.js";
import type { Matrix } from "../../../kernels/backend.js";
import { inverseFrequencies, type RopeConfig } from "../../layers/rope.js";
import { CHUNK_BYTES, GGML_QUANT_VERSION, outTypes, type GGUFOutType } from "../../layers/gguf-out.js";
import { readMatrixRow } from "../../matrix.js";
import type { LlamaConfig } from "./config.js";
import { deinterleavedRow } from "./load-gguf.js";
import type { LlamaWeights } from "./weights.js";


export interface LlamaGGUFExportSource {
  readonly name: string;
  /** general.architecture: llama, qwen2 or qwen3. */
  readonly arch: string;
  readonly config: LlamaConfig;
  readonly weights: LlamaWeights;
  /** The vocabulary to write; null for a checkpoint without one (placeholders, see idsOnlyTokenizerMetadata). */
  readonly tokenizer: TokenizerTables | null;
}

/**
 * Writes a Llama-style model as convert_hf_to_gguf.py does: {arch}.* metadata, its tensor
 * names, 1-D tensors in F32 and matrices in the types `outType` gives them (outTypes: one type,
 * or a llama-quantize mix such as Q4_K_M). For `llama` the rows of q and k are permuted within each head into ggml's
 * interleaved RoPE order (see load-gguf.ts); Llama 3 scaling becomes a rope_freqs tensor.
 *
 * A checkpoint without a tokenizer gets placeholder tokens (idsOnlyTokenizerMetadata), which
 * llama.cpp and this engine run on token ids.
 */
export function writeLlamaGGUF(file: string, src: LlamaGGUFExportSource, outType: GGUFOutType): { tensors: number } {
  const { config: c, weights: w, arch } = src;
  const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
  const types = outTypes(outType, { arch, nLayer: c.nLayer, nHead: nh, nKVHead: nkv, tiedOutput: w.lmHead === w.embed });
  const key = (k: string) => `${arch}.${k}`;
  const metadata: [string, GGUFEntry][] = [
    ["general.architecture", { type: "string", value: arch }],
    ["general.name", { type: "string", value: src.name }],
    ["general.file_type", { type: "u32", value: types.fileType }],
    ["general.quantization_version", { type: "u32", value: GGML_QUANT_VERSION }],
    [key("vocab_size"), { type: "u32", value: c.vocabSize }],
    [key("context_length"), { type: "u32", value: c.contextLength }],
    [key("embedding_length"), { type: "u32", value: c.hidden }],
    [key("feed_forward_length"), { type: "u32", value: c.intermediate }],
    [key("block_count"), { type: "u32", value: c.nLayer }],
    [key("attention.head_count"), { type: "u32", value: nh }],
    [key("attention.head_count_kv"), { type: "u32", value: nkv }],
    [key("attention.key_length"), { type: "u32", value: hs }],
    [key("attention.value_length"), { type: "u32", value: hs }],
    [key("rope.dimension_count"), { type: "u32", value: hs }],
    [key("rope.freq_base"), { type: "f32", value: c.rope.theta }],
    [key("attention.layer_norm_rms_epsilon"), { type: "f32", value: c.rmsNormEps }],
  ];
  const s = c.rope.scaling;
  if (s.type === "linear") metadata.push([key("rope.scaling.type"), { type: "string", value: "linear" }], [key("rope.scaling.factor"), { type: "f32", value: s.factor }]);
  metadata.push(...(src.tokenizer === null ? idsOnlyTokenizerMetadata(c.vocabSize, c.eosTokenIds[0] ?? null) : tokenizerMetadata(src.tokenizer)));

  const freqFactors = ropeFreqFactors(hs, c.rope);
  if (freqFactors !== null && arch !== "llama") throw new UserError(`${src.name}: llama.cpp's ${arch} takes no rope_freqs factors, so its Llama 3 RoPE scaling cannot be written`);

  const interleave = arch === "llama";
  const tensors: GGUFTensorPlan[] = [];
  const vector = (name: string, v: Float32Array, rowOf: (i: number) => number = (i) => i): void => {
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[rowOf(i)];
    tensors.push({ name, dims: [v.length], type: GGMLType.F32, write: (emit) => emit(new Uint8Array(out.buffer)) });
  };
  /** Block `layer`'s (null: the model's) `role` matrix: rows [first, first + rows) of m, file row i taken from m's row first + rowOf(i). */
  const matrix = (role: TensorRole, layer: number | null, m: Matrix, first = 0, rows = m.rows, rowOf: (i: number) => number = (i) => i): void => {
    const t = types.matrixType({ role, layer: layer ?? 0, cols: m.cols });
    const name = layer === null ? `${role}.weight` : `blk.${layer}.${role}.weight`;
    tensors.push({ name, dims: [m.cols, rows], type: t, write: (emit) => writeRows(m, rows, (i) => first + rowOf(i), t, emit) });
  };
  const qkOrder = interleave ? (i: number) => deinterleavedRow(i, hs) : undefined;

  matrix("token_embd", null, w.embed);
  if (freqFactors !== null) vector("rope_freqs.weight", Float32Array.from(freqFactors));
  w.blocks.forEach((b, l) => {
    const p = `blk.${l}`;
    const parts: [TensorRole, number, number, ((i: number) => number) | undefined][] = [
      ["attn_q", 0, nh * hs, qkOrder],
      ["attn_k", nh * hs, nkv * hs, qkOrder],
      ["attn_v", (nh + nkv) * hs, nkv * hs, undefined],
    ];
    vector(`${p}.attn_norm.weight`, b.attnNorm);
    for (const [name, first, rows, order] of parts) {
      matrix(name, l, b.qkv, first, rows, order);
      const bias = b.qkvBias;
      if (bias !== null) vector(`${p}.${name}.bias`, bias.subarray(first, first + rows), order);
    }
    if (b.qNorm !== null) vector(`${p}.attn_q_norm.weight`, b.qNorm);
    if (b.kNorm !== null) vector(`${p}.attn_k_norm.weight`, b.kNorm);
    matrix("attn_output", l, b.o);
    if (b.oBias !== null) vector(`${p}.attn_output.bias`, b.oBias);
    vector(`${p}.ffn_norm.weight`, b.mlpNorm);
    matrix("ffn_gate", l, b.gateUp, 0, c.intermediate);
    matrix("ffn_up", l, b.gateUp, c.intermediate, c.intermediate);
    if (b.gateUpBias !== null) {
      vector(`${p}.ffn_gate.bias`, b.gateUpBias.subarray(0, c.intermediate));
      vector(`${p}.ffn_up.bias`, b.gateUpBias.subarray(c.intermediate));
    }
    matrix("ffn_down", l, b.down);
    if (b.downBias !== null) vector(`${p}.ffn_down.bias`, b.downBias);
  });
  vector("output_norm.weight", w.norm);
  // A tied head is not written: llama.cpp falls back to token_embd when output is absent.
  if (w.lmHead !== w.embed) matrix("output", null, w.lmHead);

  writeGGUF(file, metadata, tensors);
  return { tensors: tensors.length };
}

/**
 * The rope_freqs factors llama.cpp divides each frequency by: Llama 3 scaling computed as
 * convert_hf_to_gguf.py does (1 above the high-frequency wavelength, `factor` below the low
 * one, 1 / ((1 − smooth) / factor + smooth) between; float32 steps, as its torch scalars take
 * them, so the bytes are the same), or a GGUF source's own; null for none.
 */
export function ropeFreqFactors(headDim: number, rope: RopeConfig): number[] | null {
  const s = rope.scaling;
  if (s.type !== "llama3") return rope.freqFactors === undefined ? null : [...rope.freqFactors];
  const f = Math.fround;
  const freqs = inverseFrequencies(headDim, { theta: rope.theta, scaling: { type: "default" } });
  const lowWavelen = s.originalContext / s.lowFreqFactor;
  const highWavelen = s.originalContext / s.highFreqFactor;
  return [...freqs].map((freq) => {
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return s.factor;
    const smooth = f(f(f(f(s.originalContext) / wavelen) - f(s.lowFreqFactor)) / f(s.highFreqFactor - s.lowFreqFactor));
    return f(1 / f(f(f(1 - smooth) / f(s.factor)) + smooth));
  });
}

/** Encodes `rows` rows, row i read from m's row rowOf(i), a few MB at a time. */
function writeRows(m: Matrix, rows: number, rowOf: (i: number) => number, type: WritableGGMLType, emit: (bytes: Uint8Array) => void): void {
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / (m.cols * 4)));
  const buf = new Float32Array(Math.min(rowsPerChunk, rows) * m.cols);
  const out = Buffer.alloc(encodedSize(type, buf.length));
  for (let r0 = 0; r0 < rows; r0 += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - r0);
    for (let r = 0; r < n; r++) readMatrixRow(buf, r * m.cols, m, rowOf(r0 + r));
    encode(type, buf, n * m.cols, out);
    emit(out.subarray(0, encodedSize(type, n * m.cols)));
  }
}
