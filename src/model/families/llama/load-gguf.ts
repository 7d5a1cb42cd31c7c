import { UserError } from "../../../errors.js";
import { GGMLType, ggmlTypeName } from "../../../io/gguf.js";
import { decodeF32 } from "../../../io/gguf-quant.js";
import { metaString, readTensorRows, type GGUFFile } from "../../../io/gguf-parse.js";
import type { Backend } from "../../../kernels/backend.js";
import { checkBlockCount, checkedGGUFTensor, GGUFTensors, type RowMap } from "../../layers/gguf-tensors.js";
import { ropeTables, type RopeConfig } from "../../layers/rope.js";
import type { WeightDType } from "../../matrix.js";
import { ggufEosTokenIds } from "../../eos.js";
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
    eosTokenIds: ggufEosTokenIds(g),
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
  const t = checkedGGUFTensor(g, freqs, "rope_freqs.weight", [headDim / 2]);
  const factorType = t.type;
  if (factorType !== GGMLType.F32 && factorType !== GGMLType.F16) throw new UserError(`${g.file}: tensor rope_freqs.weight has type ${ggmlTypeName(factorType)} (expected F32 or F16)`);
  const factors = new Float32Array(headDim / 2);
  readTensorRows(t, new Uint8Array(t.byteLength), (bytes) => decodeF32(factorType, bytes, factors.length, factors, 0));
  if (!factors.every((f) => f > 0)) throw new UserError(`${g.file}: tensor rope_freqs.weight must hold positive factors`);
  return { ...rope, freqFactors: [...factors] };
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

export function loadLlamaGGUF(g: GGUFFile, c: LlamaConfig, backend: Backend, dtype: WeightDType | null): LlamaWeights {
  const { hidden: C, intermediate: I, vocabSize: V } = c;
  const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
  checkBlockCount(g, c.nLayer);
  const t = new GGUFTensors(g, backend, dtype);
  const qkMap: RowMap = hasInterleavedQK(g) ? (r) => deinterleavedRow(r, hs) : null;

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
      attnNorm: t.vector(`${b}.attn_norm.weight`, C),
      qkv: t.stacked(qkv.map((p) => ({ ...p, name: `${p.name}.weight` })), C),
      qkvBias: c.qkvBias ? t.stackedVector(qkv.map((p) => ({ name: `${p.name}.bias`, length: p.rows, map: p.map }))) : null,
      qNorm: c.qkNorm ? t.vector(`${b}.attn_q_norm.weight`, hs) : null,
      kNorm: c.qkNorm ? t.vector(`${b}.attn_k_norm.weight`, hs) : null,
      o: t.matrix(`${b}.attn_output.weight`, C, nh * hs),
      oBias: c.outputBias ? t.vector(`${b}.attn_output.bias`, C) : null,
      mlpNorm: t.vector(`${b}.ffn_norm.weight`, C),
      gateUp: t.stacked(gateUp.map((n) => ({ name: `${n}.weight`, rows: I, map: null })), C),
      gateUpBias: c.mlpBias ? t.stackedVector(gateUp.map((n) => ({ name: `${n}.bias`, length: I, map: null }))) : null,
      down: t.matrix(`${b}.ffn_down.weight`, C, I),
      downBias: c.mlpBias ? t.vector(`${b}.ffn_down.bias`, C) : null,
    });
  }
  const embed = t.matrix("token_embd.weight", V, C);
  const lmHead = c.tieWordEmbeddings ? embed : t.matrix("output.weight", V, C);
  return { embed, blocks, norm: t.vector("output_norm.weight", C), lmHead, rope: ropeTables(backend, hs, c.contextLength, c.rope) };
}
