import { UserError } from "../../../errors.js";
import { metaInt, type GGUFFile } from "../../../io/gguf-parse.js";
import type { Backend } from "../../../kernels/backend.js";
import { checkBlockCount, checkedGGUFTensor, GGUFTensors } from "../../layers/gguf-tensors.js";
import type { WeightDType } from "../../matrix.js";
import { gpt2Heads, type GPT2Config } from "./config.js";
import type { BlockWeights, GPT2Weights, LayerNormWeights } from "./weights.js";

/**
 * GPT-2 from a GGUF file as llama.cpp's converter writes it (token_embd, position_embd,
 * blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up, ffn_down}, output_norm, optional
 * output). ggml matrices are stored row by row with the input dimension first, which is already
 * the engine's (out, in) layout: no transposes (layers/gguf-tensors.ts reads them).
 */

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

/** The tensors every metadata dimension shows in and the block count, checked before anything is allocated. */
export function checkGGUFTensors(g: GGUFFile, config: GPT2Config): void {
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P, nLayer: L } = config;
  checkBlockCount(g, L);
  const t = new Map(g.tensors.map((x) => [x.name, x]));
  const check = (name: string, dims: number[]) => checkedGGUFTensor(g, t.get(name), name, dims);
  check("token_embd.weight", [C, V]);
  check("position_embd.weight", [C, P]);
  check("blk.0.attn_qkv.weight", [C, 3 * C]);
  check("blk.0.ffn_up.weight", [C, nInner]);
  check(`blk.${L - 1}.attn_norm.weight`, [C]);
}

export function loadGGUFWeights(g: GGUFFile, config: GPT2Config, backend: Backend, dtype: WeightDType | null): GPT2Weights {
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P } = config;
  checkGGUFTensors(g, config);
  const t = new GGUFTensors(g, backend, dtype);
  const layerNorm = (prefix: string): LayerNormWeights => ({ weight: t.vector(`${prefix}.weight`, C), bias: t.vector(`${prefix}.bias`, C) });

  const wte = t.matrix("token_embd.weight", V, C);
  const wpe = t.floats("position_embd.weight", [C, P]);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const b = `blk.${l}`;
    blocks.push({
      ln1: layerNorm(`${b}.attn_norm`),
      attnQKV: t.matrix(`${b}.attn_qkv.weight`, 3 * C, C),
      attnQKVBias: t.vector(`${b}.attn_qkv.bias`, 3 * C),
      attnProj: t.matrix(`${b}.attn_output.weight`, C, C),
      attnProjBias: t.vector(`${b}.attn_output.bias`, C),
      ln2: layerNorm(`${b}.ffn_norm`),
      mlpFc: t.matrix(`${b}.ffn_up.weight`, nInner, C),
      mlpFcBias: t.vector(`${b}.ffn_up.bias`, nInner),
      mlpProj: t.matrix(`${b}.ffn_down.weight`, C, nInner),
      mlpProjBias: t.vector(`${b}.ffn_down.bias`, C),
    });
  }
  const lnF = layerNorm("output_norm");
  const lmHead = config.tieWordEmbeddings ? wte : t.matrix("output.weight", V, C);
  return { wte, wpe, blocks, lnF, lmHead };
}
