import type { GGUFFile } from "../../../io/gguf-read.js";
import type { Backend } from "../../../kernels/backend.js";
import type { ModelFamily } from "../../family.js";
import type { WeightDType } from "../../matrix.js";
import type { Model, ModelSpec } from "../../model.js";
import { gpt2Shape, parseGPT2Config, type GPT2Config } from "./config.js";
import { forward } from "./forward.js";
import { ggufConfig, loadGGUFWeights } from "./load-gguf.js";
import { loadSafetensorsWeights } from "./load-safetensors.js";
import { RunState } from "./run-state.js";
import { countParameters, decodeWeightArrays, type GPT2Weights } from "./weights.js";

/** GPT-2 (GPT2LMHeadModel; llama.cpp's "gpt2"): learned positions, LayerNorm, GELU MLP. */
export const gpt2Family: ModelFamily = {
  name: "gpt2",
  hfModelTypes: ["gpt2"],
  hfArchitectures: ["GPT2LMHeadModel", "GPT2Model"],
  ggufArchitectures: ["gpt2"],
  fromFolder: (dir, json, file) => {
    const config = parseGPT2Config(json, file);
    return gpt2Spec(config, (backend, dtype) => loadSafetensorsWeights(dir, config, backend, dtype));
  },
  fromGGUF: (g: GGUFFile) => {
    const config = ggufConfig(g);
    return gpt2Spec(config, (backend, dtype) => loadGGUFWeights(g, config, backend, dtype));
  },
};

/** A GPT-2 spec whose weights come from `load`. */
export function gpt2Spec(config: GPT2Config, load: (backend: Backend, dtype: WeightDType) => GPT2Weights): ModelSpec & { readonly config: GPT2Config } {
  const c = config;
  return {
    family: "gpt2",
    config,
    shape: gpt2Shape(config),
    eosTokenIds: c.eosTokenId === null ? [] : [c.eosTokenId],
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
