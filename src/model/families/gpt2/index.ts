import type { GGUFFile } from "../../../io/gguf-parse.js";
import type { Backend } from "../../../kernels/backend.js";
import { folderEosTokenIds, ggufEosTokenIds } from "../../eos.js";
import type { ModelFamily } from "../../family.js";
import { matrixBytes, type WeightDType } from "../../matrix.js";
import { ggufStoredBytes } from "../../layers/gguf-tensors.js";
import type { Model, ModelSpec } from "../../model.js";
import { gpt2Shape, parseGPT2Config, type GPT2Config } from "./config.js";
import { forward } from "./forward.js";
import { checkGGUFTensors, ggufConfig, loadGGUFWeights } from "./load-gguf.js";
import { checkGPT2Tensors, loadSafetensorsWeights } from "./load-safetensors.js";
import { RunState } from "./run-state.js";
import { countParameters, decodeWeightArrays, type GPT2Weights } from "./weights.js";

/** GPT-2 (GPT2LMHeadModel; llama.cpp's "gpt2"): learned positions, LayerNorm, GELU MLP. */
export const gpt2Family: ModelFamily = {
  name: "gpt2",
  hfModelTypes: ["gpt2"],
  hfArchitectures: ["GPT2LMHeadModel", "GPT2Model"],
  ggufArchitectures: ["gpt2"],
  fromFolder: (folder, json, file) => {
    const config = parseGPT2Config(json, file);
    const eos = folderEosTokenIds(folder, config.eosTokenId === null ? [] : [config.eosTokenId]);
    return gpt2Spec(config, eos, (backend, dtype) => loadSafetensorsWeights(folder, config, backend, dtype ?? "f32"), () => checkGPT2Tensors(folder, config));
  },
  fromGGUF: (g: GGUFFile) => {
    const config = ggufConfig(g);
    return gpt2Spec(config, ggufEosTokenIds(g), (backend, dtype) => loadGGUFWeights(g, config, backend, dtype), () => checkGGUFTensors(g, config), () => ggufStoredBytes(g));
  },
};

/**
 * A GPT-2 spec whose weights come from `load`; `checkTensors` holds the config against the
 * checkpoint. `eosTokenIds` are every end id the checkpoint declares (see model/eos.ts).
 */
export function gpt2Spec(
  config: GPT2Config,
  eosTokenIds: readonly number[],
  load: (backend: Backend, dtype: WeightDType | null) => GPT2Weights,
  checkTensors: () => void = () => {},
  storedBytes: () => number = () => gpt2WeightBytes(config, "f32"),
): ModelSpec & { readonly config: GPT2Config } {
  const c = config;
  return {
    weightBytes: (dtype) => {
      checkTensors();
      return dtype === null ? storedBytes() : gpt2WeightBytes(config, dtype);
    },
    family: "gpt2",
    config,
    shape: gpt2Shape(config),
    eosTokenIds,
    summary: `gpt2: ${c.nLayer} layers, ${c.nHead} heads, embedding ${c.nEmbd}, MLP ${c.nInner}, ${c.tieWordEmbeddings ? "tied" : "untied"} head`,
    loadWeights: (backend, dtype) => gpt2Model(config, load(backend, dtype), backend),
  };
}

/** A GPT-2 model over weights in `backend`'s memory. */
export function gpt2Model(config: GPT2Config, weights: GPT2Weights, backend: Backend): Model & { readonly weights: GPT2Weights } {
  return {
    family: "gpt2",
    shape: gpt2Shape(config),
    backend,
    weights,
    forwardPass: (limits) => {
      const state = new RunState(config, backend, limits);
      return { logits: state.logits, run: (cache, batch) => forward(config, weights, backend, state, cache, batch) };
    },
    decodeWeightArrays: () => decodeWeightArrays(weights),
    parameterCount: () => countParameters(weights),
  };
}

/** What loadSafetensorsWeights / loadGGUFWeights allocate: matrices in `dtype`, vectors and wpe in f32. */
export function gpt2WeightBytes(c: GPT2Config, dtype: WeightDType): number {
  const { nEmbd: C, nInner, vocabSize: V, nPositions: P, nLayer: L } = c;
  const matrices = V * C * (c.tieWordEmbeddings ? 1 : 2) + L * (4 * C * C + 2 * C * nInner);
  const vectors = P * C + L * (9 * C + nInner) + 2 * C;
  return matrixBytes(matrices, dtype) + 4 * vectors;
}
