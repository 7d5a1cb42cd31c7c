import { llamaStyleFamily } from "../llama/index.js";

/** Qwen2 / Qwen2.5: the Llama block with biases on q, k and v (not o). */
export const qwen2Family = llamaStyleFamily(
  { name: "qwen2", qkvBias: "always", qkNorm: false },
  { hfModelTypes: ["qwen2"], hfArchitectures: ["Qwen2ForCausalLM"], ggufArchitectures: ["qwen2"] },
);
