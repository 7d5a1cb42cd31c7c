import { UserError } from "../../../errors.js";
import { TensorReader, type TensorInfo } from "../../../io/safetensors-parse.js";
import type { Folder } from "../../../io/folder.js";
import type { Backend, Matrix } from "../../../kernels/backend.js";
import { Q8_BLOCK } from "../../../kernels/backend.js";
import { listCheckpointTensors } from "../../checkpoint.js";
import { allocMatrix, type WeightDType } from "../../matrix.js";
import type { GPT2Config } from "./config.js";
import type { BlockWeights, GPT2Weights, LayerNormWeights } from "./weights.js";

/** GPT2LMHeadModel checkpoints say "transformer.h.0...", bare GPT2Model ones "h.0...". */
export function gpt2Tensors(folder: Folder): Map<string, TensorInfo> {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, t] of listCheckpointTensors(folder)) tensors.set(name.startsWith("transformer.") ? name.slice("transformer.".length) : name, t);
  return tensors;
}


/**
 * Loads GPT-2 weights into the backend's memory, converting layouts once: HF's Conv1D stores
 * (in, out) and the engine wants (out, in) rows for its dot products; c_attn stays fused as
 * (3C, C) so one matmul makes q, k and v.
 */
export function loadSafetensorsWeights(folder: Folder, config: GPT2Config, backend: Backend, dtype: WeightDType): GPT2Weights {
  const reader = new TensorReader();
  try {
    return readWeights(folder, gpt2Tensors(folder), reader, config, backend, dtype);
  } finally {
    reader.close();
  }
}

function checkedTensor(dir: string, tensors: ReadonlyMap<string, TensorInfo>, name: string, shape: readonly number[]): TensorInfo {
  const t = tensors.get(name);
  if (t === undefined) throw new UserError(`${dir}: tensor ${name} is missing from the checkpoint`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new UserError(`${dir}: tensor ${name} has shape [${t.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`);
  }
  return t;
}

/**
 * The tensors every config dimension shows in, checked before anything is allocated: a config
 * saying n_inner 1e12 or n_positions 1e9 must be named, not turned into a giant allocation.
 */
export function checkGPT2Tensors(folder: Folder, config: GPT2Config, tensors: ReadonlyMap<string, TensorInfo> = gpt2Tensors(folder)): void {
  const dir = folder.where;
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P, nLayer: L } = config;
  checkedTensor(dir, tensors, "wte.weight", [V, C]);
  checkedTensor(dir, tensors, "wpe.weight", [P, C]);
  checkedTensor(dir, tensors, "h.0.attn.c_attn.weight", [C, 3 * C]);
  checkedTensor(dir, tensors, "h.0.mlp.c_fc.weight", [C, nInner]);
  checkedTensor(dir, tensors, `h.${L - 1}.ln_1.weight`, [C]);
}

function readWeights(folder: Folder, tensors: Map<string, TensorInfo>, reader: TensorReader, config: GPT2Config, backend: Backend, dtype: WeightDType): GPT2Weights {
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P } = config;
  const dir = folder.where;
  checkGPT2Tensors(folder, config, tensors);
  const tensor = (name: string, shape: number[]): TensorInfo => checkedTensor(dir, tensors, name, shape);
  const vector = (name: string, length: number): Float32Array => {
    const out = backend.allocF32(length);
    reader.readF32(tensor(name, [length]), out);
    return out;
  };
  const layerNorm = (prefix: string): LayerNormWeights => ({ weight: vector(`${prefix}.weight`, C), bias: vector(`${prefix}.bias`, C) });

  // Conv1D weights are (in, out): read 32 input rows at a time (one q8 block of every output
  // row) into a small staging buffer and scatter them, never the whole matrix. The buffer is the
  // backend's, so its kernels can convert from it.
  const staging = backend.allocF32(Q8_BLOCK * Math.max(3 * C, nInner, C));
  const conv1d = (name: string, inFeatures: number, outFeatures: number): Matrix => {
    const t = tensor(name, [inFeatures, outFeatures]);
    const m = allocMatrix(backend, outFeatures, inFeatures, dtype);
    for (let i = 0; i < inFeatures; i += Q8_BLOCK) {
      const n = Math.min(Q8_BLOCK, inFeatures - i);
      reader.readF32(t, staging, i * outFeatures, n * outFeatures);
      backend.writeMatrixColumns(m, i, staging, n);
    }
    return m;
  };
  // Embeddings are already (V, C); stream them in slices so q8 never stages the whole table.
  const embedding = (name: string, rows: number): Matrix => {
    const t = tensor(name, [rows, C]);
    const m = allocMatrix(backend, rows, C, dtype);
    const sliceRows = Math.max(1, Math.floor(staging.length / C));
    for (let r = 0; r < rows; r += sliceRows) {
      const n = Math.min(sliceRows, rows - r);
      reader.readF32(t, staging, r * C, n * C);
      backend.writeMatrixRows(m, r, staging, n);
    }
    return m;
  };

  const wte = embedding("wte.weight", V);
  const wpe = backend.allocF32(P * C);
  reader.readF32(tensor("wpe.weight", [P, C]), wpe);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    const h = `h.${l}`;
    blocks.push({
      ln1: layerNorm(`${h}.ln_1`),
      attnQKV: conv1d(`${h}.attn.c_attn.weight`, C, 3 * C),
      attnQKVBias: vector(`${h}.attn.c_attn.bias`, 3 * C),
      attnProj: conv1d(`${h}.attn.c_proj.weight`, C, C),
      attnProjBias: vector(`${h}.attn.c_proj.bias`, C),
      ln2: layerNorm(`${h}.ln_2`),
      mlpFc: conv1d(`${h}.mlp.c_fc.weight`, C, nInner),
      mlpFcBias: vector(`${h}.mlp.c_fc.bias`, nInner),
      mlpProj: conv1d(`${h}.mlp.c_proj.weight`, nInner, C),
      mlpProjBias: vector(`${h}.mlp.c_proj.bias`, C),
    });
  }
  const lnF = layerNorm("ln_f");
  const untied = tensors.has("lm_head.weight");
  const lmHead = untied ? embedding("lm_head.weight", V) : wte;
  if (!untied && !config.tieWordEmbeddings) throw new UserError(`${dir}: tie_word_embeddings is false but lm_head.weight is missing`);
  const expectedLayers = new Set([...tensors.keys()].filter((k) => /^h\.\d+\./.test(k)).map((k) => Number(k.split(".")[1])));
  if (expectedLayers.size > config.nLayer) {
    throw new UserError(`${dir}: checkpoint has ${expectedLayers.size} layers but config.json says n_layer ${config.nLayer}`);
  }
  return { wte, wpe, blocks, lnF, lmHead };
}
