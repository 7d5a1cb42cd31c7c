import { UserError } from "../../../errors.js";
import { GGMLType, ggmlTypeName, isSupportedType, type SupportedGGMLType } from "../../../io/gguf.js";
import { decodeBlocksToQ8, decodeF32 } from "../../../io/gguf-quant.js";
import { checkFinite } from "../../../io/safetensors.js";
import { metaString, readTensorRows, type GGUFFile, type GGUFTensorInfo } from "../../../io/gguf-read.js";
import type { Backend, Matrix } from "../../../kernels/backend.js";
import { ropeTables, type RopeConfig } from "../../layers/rope.js";
import { allocMatrix, type WeightDType } from "../../matrix.js";
import type { LlamaConfig, LlamaVariant } from "./config.js";
import type { LlamaBlockWeights, LlamaWeights } from "./weights.js";

/**
 * Llama, Qwen2 and Qwen3 from GGUF files as llama.cpp's convert_hf_to_gguf.py writes them:
 * {arch}.* metadata, token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v (+ .bias),
 * attn_q_norm, attn_k_norm, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}, output_norm,
 * optional output (tied when absent) and optional rope_freqs (Llama 3 scaling).
 *
 * For the `llama` architecture the converter permutes the rows of q and k within each head,
 * from Hugging Face's rotate-half pairs (i, i + hs/2) to ggml's adjacent pairs (2i, 2i + 1).
 * The permutation is undone here, row by row as the tensor is read, so the forward pass stays
 * rotate-half for every source. Qwen2 and Qwen3 use ggml's NEOX RoPE (rotate-half already) and
 * are stored unpermuted.
 */

const READ_CHUNK = 1 << 20;
/** f32 values staged at a time for conversion to f16 or q8 storage (never freed: kept small). */
const STAGING_FLOATS = 1 << 16;

/** The GGUF architectures whose q and k rows are stored in ggml's interleaved RoPE order. */
const INTERLEAVED_ROPE_ARCHS = ["llama"];

export function ggufArchitecture(g: GGUFFile): string {
  const arch = metaString(g, "general.architecture");
  if (arch === null) throw new UserError(`${g.file}: metadata general.architecture is missing`);
  return arch;
}

/** True when the file's q and k rows are in ggml's interleaved order (see above). */
export function hasInterleavedQK(g: GGUFFile): boolean {
  return INTERLEAVED_ROPE_ARCHS.includes(ggufArchitecture(g));
}

/** The hyperparameters from {arch}.* metadata and the tensor table. */
export function llamaConfigFromGGUF(g: GGUFFile, variant: LlamaVariant): LlamaConfig {
  const arch = ggufArchitecture(g);
  const key = (k: string) => `${arch}.${k}`;
  const int = (k: string, fallback?: number): number => {
    const v = g.metadata.get(key(k)) ?? fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new UserError(`${g.file}: metadata ${key(k)} ${v === undefined ? "is missing" : `must be a positive integer, got ${JSON.stringify(String(v))}`}`);
    }
    return v;
  };
  const positive = (k: string, fallback?: number): number => {
    const v = g.metadata.get(key(k)) ?? fallback;
    if (typeof v !== "number" || !(v > 0)) throw new UserError(`${g.file}: metadata ${key(k)} ${v === undefined ? "is missing" : `must be a positive number, got ${JSON.stringify(String(v))}`}`);
    return v;
  };
  const has = (name: string) => g.tensors.some((t) => t.name === name);

  const hidden = int("embedding_length");
  const nHead = int("attention.head_count");
  const nKVHead = int("attention.head_count_kv", nHead);
  if (nHead % nKVHead !== 0) throw new UserError(`${g.file}: ${key("attention.head_count")} ${nHead} is not a multiple of ${key("attention.head_count_kv")} ${nKVHead}`);
  if (!g.metadata.has(key("attention.key_length")) && hidden % nHead !== 0) {
    throw new UserError(`${g.file}: ${key("embedding_length")} ${hidden} is not divisible by ${key("attention.head_count")} ${nHead} (and no ${key("attention.key_length")} is given)`);
  }
  const headDim = int("attention.key_length", hidden / nHead);
  const valueDim = int("attention.value_length", headDim);
  if (valueDim !== headDim) throw new UserError(`${g.file}: ${key("attention.value_length")} ${valueDim} differs from ${key("attention.key_length")} ${headDim} (not supported)`);
  if (headDim % 2 !== 0) throw new UserError(`${g.file}: head size ${headDim} must be even for RoPE`);
  const ropeDim = int("rope.dimension_count", headDim);
  if (ropeDim !== headDim) throw new UserError(`${g.file}: ${key("rope.dimension_count")} ${ropeDim} rotates part of a ${headDim}-wide head (partial RoPE is not supported)`);

  const embd = g.tensors.find((t) => t.name === "token_embd.weight");
  if (embd === undefined) throw new UserError(`${g.file}: tensor token_embd.weight is missing`);
  if (embd.dims.length !== 2) throw new UserError(`${g.file}: token_embd.weight must be 2-D, got [${embd.dims.join(", ")}]`);

  const eos = g.metadata.get("tokenizer.ggml.eos_token_id");
  return {
    nLayer: int("block_count"),
    hidden,
    intermediate: int("feed_forward_length"),
    heads: { nHead, nKVHead, headDim },
    vocabSize: embd.dims[1],
    contextLength: int("context_length"),
    rmsNormEps: positive("attention.layer_norm_rms_epsilon"),
    rope: ropeFromGGUF(g, arch, headDim),
    // Which optional tensors exist says which biases the checkpoint had, as it does for llama.cpp.
    qkvBias: variant.qkvBias === "always" || has("blk.0.attn_q.bias"),
    outputBias: has("blk.0.attn_output.bias"),
    mlpBias: has("blk.0.ffn_gate.bias"),
    qkNorm: variant.qkNorm,
    tieWordEmbeddings: !has("output.weight"),
    eosTokenIds: typeof eos === "number" && Number.isInteger(eos) && eos >= 0 ? [eos] : [],
  };
}

function ropeFromGGUF(g: GGUFFile, arch: string, headDim: number): RopeConfig {
  const base = g.metadata.get(`${arch}.rope.freq_base`) ?? 10000;
  if (typeof base !== "number" || !(base > 0)) throw new UserError(`${g.file}: metadata ${arch}.rope.freq_base must be a positive number, got ${JSON.stringify(String(base))}`);
  const type = metaString(g, `${arch}.rope.scaling.type`) ?? "none";
  let rope: RopeConfig;
  if (type === "none") {
    rope = { theta: base, scaling: { type: "default" } };
  } else if (type === "linear") {
    const factor = g.metadata.get(`${arch}.rope.scaling.factor`);
    if (typeof factor !== "number" || !(factor > 0)) throw new UserError(`${g.file}: metadata ${arch}.rope.scaling.factor must be a positive number, got ${JSON.stringify(String(factor))}`);
    rope = { theta: base, scaling: factor === 1 ? { type: "default" } : { type: "linear", factor } };
  } else {
    throw new UserError(`${g.file}: unsupported ${arch}.rope.scaling.type "${type}" (supported: none, linear, and Llama 3's rope_freqs)`);
  }
  const freqs = g.tensors.find((t) => t.name === "rope_freqs.weight");
  if (freqs === undefined) return rope;
  // Small (hs / 2 floats): read with the config, so a bad one fails before any weights load.
  const t = checkTensor(g, freqs, [headDim / 2]);
  const factorType = t.type;
  if (!isSupportedType(factorType) || (factorType !== GGMLType.F32 && factorType !== GGMLType.F16)) throw new UserError(`${g.file}: tensor rope_freqs.weight has type ${ggmlTypeName(factorType)} (expected F32 or F16)`);
  const factors = new Float32Array(headDim / 2);
  readTensorRows(t, Buffer.alloc(t.byteLength), (bytes) => decodeF32(factorType, bytes, factors.length, factors, 0));
  if (!factors.every((f) => f > 0)) throw new UserError(`${g.file}: tensor rope_freqs.weight must hold positive factors`);
  return { ...rope, freqFactors: [...factors] };
}

function checkTensor(g: GGUFFile, t: GGUFTensorInfo, dims: readonly number[]): GGUFTensorInfo {
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new UserError(`${g.file}: tensor ${t.name} has shape [${t.dims.join(", ")}] but the metadata implies [${dims.join(", ")}]`);
  }
  if (!isSupportedType(t.type)) {
    throw new UserError(`${g.file}: tensor ${t.name} has type ${ggmlTypeName(t.type)}, which this engine cannot read (supported: F32, F16, Q8_0, Q4_0)`);
  }
  return t;
}

/**
 * Where row `r` of an interleaved q or k tensor belongs in Hugging Face order: within each head
 * of hs rows, file row 2j + s holds the HF row s·hs/2 + j (the inverse of the converter's
 * reshape(n_head, 2, hs/2).swapaxes(1, 2)).
 */
export function deinterleavedRow(r: number, headDim: number): number {
  const within = r % headDim;
  return r - within + (within % 2) * (headDim / 2) + (within >> 1);
}

type RowMap = ((row: number) => number) | null;

export function loadLlamaGGUF(g: GGUFFile, c: LlamaConfig, backend: Backend, dtype: WeightDType): LlamaWeights {
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const { hidden: C, intermediate: I, vocabSize: V } = c;
  const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
  const chunk = Buffer.alloc(READ_CHUNK);
  for (const t of g.tensors) {
    const layer = /^blk\.(\d+)\./.exec(t.name);
    if (layer !== null && Number(layer[1]) >= c.nLayer) throw new UserError(`${g.file}: tensor ${t.name} is beyond block_count ${c.nLayer}`);
  }
  const interleaved = hasInterleavedQK(g);
  const qkMap: RowMap = interleaved ? (r) => deinterleavedRow(r, hs) : null;

  const tensor = (name: string, dims: number[]): GGUFTensorInfo & { type: SupportedGGMLType } => {
    const t = byName.get(name);
    if (t === undefined) throw new UserError(`${g.file}: tensor ${name} is missing`);
    const checked = checkTensor(g, t, dims);
    const type = checked.type;
    if (!isSupportedType(type)) throw new Error("unreachable: checked in checkTensor()");
    return { ...checked, type };
  };

  /** Vectors end to end (biases of a stacked matrix), each through its own row map. */
  const stackedVector = (parts: readonly { name: string; length: number; map: RowMap }[]): Float32Array => {
    const out = backend.allocF32(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      const t = tensor(p.name, [p.length]);
      const values = new Float32Array(p.length);
      readTensorRows(t, chunk, (bytes) => decodeF32(t.type, bytes, p.length, values, 0));
      checkFinite(values, p.length, () => `${g.file}: tensor ${p.name}`);
      for (let i = 0; i < p.length; i++) out[at + (p.map === null ? i : p.map(i))] = values[i];
      at += p.length;
    }
    return out;
  };
  const vector = (name: string, length: number): Float32Array => stackedVector([{ name, length, map: null }]);

  // The backend's, so its kernels can convert from it; allocated on first use and never freed.
  let staging: Float32Array | null = null;
  /** One (Σ rows, cols) matrix whose rows are each part's rows in turn, placed by its row map. */
  const stacked = (parts: readonly { name: string; rows: number; map: RowMap }[], cols: number): Matrix => {
    const m = allocMatrix(backend, parts.reduce((a, p) => a + p.rows, 0), cols, dtype);
    let first = 0;
    for (const p of parts) {
      const t = tensor(p.name, [cols, p.rows]);
      const type = t.type;
      const dest = (r: number) => first + (p.map === null ? r : p.map(r));
      if (m.kind === "q8" && (type === GGMLType.Q8_0 || type === GGMLType.Q4_0)) {
        // Already int8-with-a-scale-per-32: copied as is, never requantized.
        const blocks = cols / 32;
        readTensorRows(t, chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r++) {
            const d = dest(firstRow + r);
            decodeBlocksToQ8(type, bytes.subarray(r * rowBytes, (r + 1) * rowBytes), blocks, m.q, d * cols, m.scales, d * blocks);
            checkFinite(m.scales.subarray(d * blocks), blocks, () => `${g.file}: tensor ${t.name} (block scales)`, (firstRow + r) * blocks);
          }
        });
      } else {
        const stage = (staging ??= backend.allocF32(Math.max(STAGING_FLOATS, cols)));
        const sliceRows = Math.floor(stage.length / cols);
        readTensorRows(t, chunk, (bytes, firstRow, rows) => {
          const rowBytes = bytes.length / rows;
          for (let r = 0; r < rows; r += sliceRows) {
            const n = Math.min(sliceRows, rows - r);
            decodeF32(type, bytes.subarray(r * rowBytes, (r + n) * rowBytes), n * cols, stage, 0);
            checkFinite(stage, n * cols, () => `${g.file}: tensor ${t.name}`, (firstRow + r) * cols);
            if (p.map === null) backend.writeMatrixRows(m, dest(firstRow + r), stage, n);
            else for (let i = 0; i < n; i++) backend.writeMatrixRows(m, dest(firstRow + r + i), stage.subarray(i * cols, (i + 1) * cols), 1);
          }
        });
      }
      first += p.rows;
    }
    return m;
  };
  const matrix = (name: string, rows: number, cols: number): Matrix => stacked([{ name, rows, map: null }], cols);

  const blocks: LlamaBlockWeights[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const b = `blk.${l}`;
    const qkv = [
      { name: `${b}.attn_q`, rows: nh * hs, map: qkMap },
      { name: `${b}.attn_k`, rows: nkv * hs, map: qkMap },
      { name: `${b}.attn_v`, rows: nkv * hs, map: null },
    ];
    const gateUp = [`${b}.ffn_gate`, `${b}.ffn_up`];
    blocks.push({
      attnNorm: vector(`${b}.attn_norm.weight`, C),
      qkv: stacked(qkv.map((p) => ({ ...p, name: `${p.name}.weight` })), C),
      qkvBias: c.qkvBias ? stackedVector(qkv.map((p) => ({ name: `${p.name}.bias`, length: p.rows, map: p.map }))) : null,
      qNorm: c.qkNorm ? vector(`${b}.attn_q_norm.weight`, hs) : null,
      kNorm: c.qkNorm ? vector(`${b}.attn_k_norm.weight`, hs) : null,
      o: matrix(`${b}.attn_output.weight`, C, nh * hs),
      oBias: c.outputBias ? vector(`${b}.attn_output.bias`, C) : null,
      mlpNorm: vector(`${b}.ffn_norm.weight`, C),
      gateUp: stacked(gateUp.map((n) => ({ name: `${n}.weight`, rows: I, map: null })), C),
      gateUpBias: c.mlpBias ? stackedVector(gateUp.map((n) => ({ name: `${n}.bias`, length: I, map: null }))) : null,
      down: matrix(`${b}.ffn_down.weight`, C, I),
      downBias: c.mlpBias ? vector(`${b}.ffn_down.bias`, C) : null,
    });
  }
  const embed = matrix("token_embd.weight", V, C);
  const lmHead = c.tieWordEmbeddings ? embed : matrix("output.weight", V, C);
  return { embed, blocks, norm: vector("output_norm.weight", C), lmHead, rope: ropeTables(backend, hs, c.contextLength, c.rope) };
}
