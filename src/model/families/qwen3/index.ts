import { llamaStyleFamily } from "../llama/index.js";

/** Qwen3: the Llama block with an RMSNorm over each head of q and k before RoPE. */
export const qwen3Family = llamaStyleFamily(
  { name: "qwen3", qkvBias: "attention_bias", qkNorm: true },
  { hfModelTypes: ["qwen3"], hfArchitectures: ["Qwen3ForCausalLM"], ggufArchitectures: ["qwen3"] },
);
