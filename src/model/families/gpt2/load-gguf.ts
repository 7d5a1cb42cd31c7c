import { UserError } from "../../../errors.js";
import { GGMLType, ggmlTypeName, isSupportedType } from "../../../io/gguf.js";
import { decodeBlocksToQ8, decodeF32 } from "../../../io/gguf-quant.js";
import { checkFinite } from "../../../io/safetensors.js";
import { metaInt, readTensorRows, type GGUFFile, type GGUFTensorInfo } from "../../../io/gguf-read.js";
import type { Backend, Matrix } from "../../../kernels/backend.js";
import { allocMatrix, type WeightDType } from "../../matrix.js";
import { gpt2Heads, type GPT2Config } from "./config.js";
import type { BlockWeights, GPT2Weights, LayerNormWeights } from "./weights.js";

/**
 * GPT-2 from a GGUF file as llama.cpp's converter writes it (token_embd, position_embd,
 * blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up, ffn_down}, output_norm, optional
 * output). ggml matrices are stored row by row with the input dimension first, which is already
 * the engine's (out, in) layout: no transposes. Each tensor is read from disk straight into the
 * buffer that keeps it, through one 1 MiB read buffer.
 */

const READ_CHUNK = 1 << 20;
/** f32 values staged at a time for conversion to f16 or q8 storage (never freed: kept small). */
const STAGING_FLOATS = 1 << 16;
/** The model's hyperparameters from gpt2.* metadata and the embedding's shape. */
export function ggufConfig(g: GGUFFile): GPT2Config {
  const key = (k: string) => `gpt2.${k}`;
  const nEmbd = metaInt(g, key("embedding_length"));
  const nHead = metaInt(g, key("attention.head_count"));
  if (nHead === 0 || nEmbd % nHead !== 0) throw new UserError(`${g.file}: embedding_length ${nEmbd} is not divisible by head_count ${nHead}`);
  const eps = g.metadata.get(key("attention.layer_norm_epsilon")) ?? 1e-5;
  if (typeof eps !== "number" || !(eps > 0)) throw new UserError(`${g.file}: ${key("attention.layer_norm_epsilon")} must be a positive number`);
  const embd = g.tensors.find((t) => t.name === "token_embd.weight");
  if (embd === undefined) throw new UserError(`${g.file}: tensor token_embd.weight is missing`);
  if (embd.dims.length !== 2) throw new UserError(`${g.file}: token_embd.weight must be 2-D, got [${embd.dims.join(", ")}]`);
  const tokenId = (k: string): number | null => {
    const v = g.metadata.get(k);
    return typeof v === "number" && Number.isInteger(v) && v >= 0 ? v : null;
  };
  return {
    nLayer: metaInt(g, key("block_count")),
    nHead,
    nEmbd,
    nInner: metaInt(g, key("feed_forward_length"), 4 * nEmbd),
    nPositions: metaInt(g, key("context_length")),
    vocabSize: embd.dims[1],
    layerNormEpsilon: eps,
    tieWordEmbeddings: !g.tensors.some((t) => t.name === "output.weight"),
    bosTokenId: tokenId("tokenizer.ggml.bos_token_id"),
    eosTokenId: tokenId("tokenizer.ggml.eos_token_id"),
    heads: gpt2Heads(nEmbd, nHead),
  };
}

function checkedTensor(g: GGUFFile, byName: ReadonlyMap<string, GGUFTensorInfo>, name: string, dims: readonly number[]): GGUFTensorInfo {
  const t = byName.get(name);
  if (t === undefined) throw new UserError(`${g.file}: tensor ${name} is missing`);
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new UserError(`${g.file}: tensor ${name} has shape [${t.dims.join(", ")}] but the metadata implies [${dims.join(", ")}]`);
  }
  if (!isSupportedType(t.type)) {
    throw new UserError(`${g.file}: tensor ${name} has type ${ggmlTypeName(t.type)}, which this engine cannot read (supported: F32, F16, Q8_0, Q4_0)`);
  }
  return t;
}

/** The tensors every metadata dimension shows in and the block count, checked before anything is allocated. */
export function checkGGUFTensors(g: GGUFFile, config: GPT2Config, byName: ReadonlyMap<string, GGUFTensorInfo> = new Map(g.tensors.map((t) => [t.name, t]))): void {
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P, nLayer: L } = config;
  for (const t of g.tensors) {
    const layer = /^blk\.(\d+)\./.exec(t.name);
    if (layer !== null && Number(layer[1]) >= L) throw new UserError(`${g.file}: tensor ${t.name} is beyond block_count ${L}`);
  }
  checkedTensor(g, byName, "token_embd.weight", [C, V]);
  checkedTensor(g, byName, "position_embd.weight", [C, P]);
  checkedTensor(g, byName, "blk.0.attn_qkv.weight", [C, 3 * C]);
  checkedTensor(g, byName, "blk.0.ffn_up.weight", [C, nInner]);
  checkedTensor(g, byName, `blk.${L - 1}.attn_norm.weight`, [C]);
}

export function loadGGUFWeights(g: GGUFFile, config: GPT2Config, backend: Backend, dtype: WeightDType): GPT2Weights {
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P } = config;
  checkGGUFTensors(g, config, byName);
  const chunk = Buffer.alloc(READ_CHUNK);

  const tensor = (name: string, dims: number[]): GGUFTensorInfo => checkedTensor(g, byName, name, dims);
  const f32Into = (t: GGUFTensorInfo, out: Float32Array): Float32Array => {
    const type = t.type;
    if (!isSupportedType(type)) throw new Error("unreachable: checked in tensor()");
    const cols = t.dims[0];
    readTensorRows(t, chunk, (bytes, firstRow, rows) => {
      decodeF32(type, bytes, rows * cols, out, firstRow * cols);
      checkFinite(out.subarray(firstRow * cols), rows * cols, () => `${g.file}: tensor ${t.name}`, firstRow * cols);
    });
    return out;
  };
  const vector = (name: string, length: number): Float32Array => f32Into(tensor(name, [length]), backend.allocF32(length));
  const layerNorm = (prefix: string): LayerNormWeights => ({ weight: vector(`${prefix}.weight`, C), bias: vector(`${prefix}.bias`, C) });

  // The backend's, so its kernels can convert from it; allocated on first use and never freed,
  // so a read's rows are converted a few at a time through it rather than all at once.
  let staging: Float32Array | null = null;
  const matrix = (name: string, inFeatures: number, outFeatures: number): Matrix => {
    const t = tensor(name, [inFeatures, outFeatures]);
    const type = t.type;
    if (!isSupportedType(type)) throw new Error("unreachable: checked in tensor()");
    const m = allocMatrix(backend, outFeatures, inFeatures, dtype);
    if (m.kind === "f32") {
      f32Into(t, m.data);
    } else if (m.kind === "q8" && (type === GGMLType.Q8_0 || type === GGMLType.Q4_0)) {
      // Already int8-with-a-scale-per-32: copied as is, never requantized.
      const blocksPerRow = inFeatures / 32;
      readTensorRows(t, chunk, (bytes, firstRow, rows) => {
        decodeBlocksToQ8(type, bytes, rows * blocksPerRow, m.q, firstRow * inFeatures, m.scales, firstRow * blocksPerRow);
        checkFinite(m.scales.subarray(firstRow * blocksPerRow), rows * blocksPerRow, () => `${g.file}: tensor ${t.name} (block scales)`, firstRow * blocksPerRow);
      });
    } else {
      const stage = (staging ??= backend.allocF32(Math.max(STAGING_FLOATS, C, nInner)));
      const sliceRows = Math.floor(stage.length / inFeatures);
      readTensorRows(t, chunk, (bytes, firstRow, rows) => {
        const rowBytes = bytes.length / rows;
        for (let r = 0; r < rows; r += sliceRows) {
          const n = Math.min(sliceRows, rows - r);
          decodeF32(type, bytes.subarray(r * rowBytes, (r + n) * rowBytes), n * inFeatures, stage, 0);
          checkFinite(stage, n * inFeatures, () => `${g.file}: tensor ${t.name}`, (firstRow + r) * inFeatures);
          backend.writeMatrixRows(m, firstRow + r, stage, n);
        }
      });
    }
    return m;
  };

  const wte = matrix("token_embd.weight", C, V);
  const wpe = f32Into(tensor("position_embd.weight", [C, P]), backend.allocF32(P * C));
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const b = `blk.${l}`;
    blocks.push({
      ln1: layerNorm(`${b}.attn_norm`),
      attnQKV: matrix(`${b}.attn_qkv.weight`, C, 3 * C),
      attnQKVBias: vector(`${b}.attn_qkv.bias`, 3 * C),
      attnProj: matrix(`${b}.attn_output.weight`, C, C),
      attnProjBias: vector(`${b}.attn_output.bias`, C),
      ln2: layerNorm(`${b}.ffn_norm`),
      mlpFc: matrix(`${b}.ffn_up.weight`, C, nInner),
      mlpFcBias: vector(`${b}.ffn_up.bias`, nInner),
      mlpProj: matrix(`${b}.ffn_down.weight`, nInner, C),
      mlpProjBias: vector(`${b}.ffn_down.bias`, C),
    });
  }
  const lnF = layerNorm("output_norm");
  const lmHead = config.tieWordEmbeddings ? wte : matrix("output.weight", C, V);
  return { wte, wpe, blocks, lnF, lmHead };
}
