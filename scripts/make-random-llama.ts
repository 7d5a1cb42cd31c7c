/**
 * Writes Hugging Face folders (config.json, model.safetensors in F32, no tokenizer) with random
 * weights for the Llama-style families, small enough for checks and tests:
 *   llama3  LlamaForCausalLM, GQA 8/2, tied head, Llama 3 RoPE scaling ×8 from an original
 *           context of 64 (so scaling changes positions well inside 300), context 512
 *   qwen2   Qwen2ForCausalLM, q/k/v biases, untied head
 *   qwen3   Qwen3ForCausalLM, q/k norms, head_dim 32 ≠ hidden / heads, untied head
 *   smollm2 SmolLM2-135M's shapes (30 layers, hidden 576, 9 heads / 3 KV heads, MLP 1536,
 *           vocab 49152, tied, rope_theta 100000), for benchmarks
 *
 *   node dist/scripts/make-random-llama.js llama3|qwen2|qwen3|smollm2 OUT_DIR [--seed N]
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeNormal } from "./make-random-gpt2.js";

export type RandomLlamaKind = "llama3" | "qwen2" | "qwen3" | "smollm2";
/** The small kinds that checks and tests run; smollm2 is benchmark-sized (538 MB in F32). */
export const RANDOM_LLAMA_KINDS: readonly RandomLlamaKind[] = ["llama3", "qwen2", "qwen3"];
const ALL_KINDS: readonly RandomLlamaKind[] = [...RANDOM_LLAMA_KINDS, "smollm2"];

/** A config.json for each kind; everything the weights need is read back from it. */
export function randomLlamaConfig(kind: RandomLlamaKind): Record<string, unknown> {
  const common = { hidden_act: "silu", bos_token_id: 1, eos_token_id: 2, torch_dtype: "float32", max_position_embeddings: 512 };
  switch (kind) {
    case "llama3":
      return {
        ...common,
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: 128,
        intermediate_size: 256,
        num_hidden_layers: 2,
        num_attention_heads: 8,
        num_key_value_heads: 2,
        vocab_size: 512,
        rms_norm_eps: 1e-5,
        rope_theta: 500000.0,
        rope_scaling: { rope_type: "llama3", factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
      };
    case "qwen2":
      return {
        ...common,
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        hidden_size: 96,
        intermediate_size: 192,
        num_hidden_layers: 2,
        num_attention_heads: 6,
        num_key_value_heads: 2,
        vocab_size: 400,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000.0,
        tie_word_embeddings: false,
      };
    case "qwen3":
      return {
        ...common,
        architectures: ["Qwen3ForCausalLM"],
        model_type: "qwen3",
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 3,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 32,
        vocab_size: 300,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000.0,
        attention_bias: false,
        tie_word_embeddings: false,
      };
    case "smollm2":
      return {
        ...common,
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: 576,
        intermediate_size: 1536,
        num_hidden_layers: 30,
        num_attention_heads: 9,
        num_key_value_heads: 3,
        vocab_size: 49152,
        max_position_embeddings: 8192,
        rms_norm_eps: 1e-5,
        rope_theta: 100000.0,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
      };
  }
}

interface TensorPlan {
  readonly name: string;
  readonly shape: readonly number[];
  /** Norm gains are 1 + noise, so a norm read from the wrong place shows. */
  readonly fill: "normal" | "gain";
}

/** Writes `config` and random weights for it into outDir; deterministic for a seed. */
export function writeRandomLlamaFolder(outDir: string, config: Record<string, unknown>, options: { seed?: number; std?: number } = {}): string {
  const num = (k: string): number => {
    const v = config[k];
    if (typeof v !== "number") throw new Error(`config ${k} must be a number`);
    return v;
  };
  const C = num("hidden_size");
  const I = num("intermediate_size");
  const V = num("vocab_size");
  const nh = num("num_attention_heads");
  const nkv = typeof config.num_key_value_heads === "number" ? config.num_key_value_heads : nh;
  const hs = typeof config.head_dim === "number" ? config.head_dim : C / nh;
  const qkvBias = config.model_type === "qwen2" || config.attention_bias === true;
  const qkNorm = config.model_type === "qwen3";
  const outputBias = config.model_type !== "qwen2" && config.attention_bias === true;
  const mlpBias = config.mlp_bias === true;
  const std = options.std ?? 0.08;
  const normal = makeNormal(options.seed ?? 1234);

  const plan: TensorPlan[] = [{ name: "model.embed_tokens.weight", shape: [V, C], fill: "normal" }];
  for (let l = 0; l < num("num_hidden_layers"); l++) {
    const p = `model.layers.${l}`;
    plan.push(
      { name: `${p}.input_layernorm.weight`, shape: [C], fill: "gain" },
      { name: `${p}.self_attn.q_proj.weight`, shape: [nh * hs, C], fill: "normal" },
      { name: `${p}.self_attn.k_proj.weight`, shape: [nkv * hs, C], fill: "normal" },
      { name: `${p}.self_attn.v_proj.weight`, shape: [nkv * hs, C], fill: "normal" },
      { name: `${p}.self_attn.o_proj.weight`, shape: [C, nh * hs], fill: "normal" },
      { name: `${p}.post_attention_layernorm.weight`, shape: [C], fill: "gain" },
      { name: `${p}.mlp.gate_proj.weight`, shape: [I, C], fill: "normal" },
      { name: `${p}.mlp.up_proj.weight`, shape: [I, C], fill: "normal" },
      { name: `${p}.mlp.down_proj.weight`, shape: [C, I], fill: "normal" },
    );
    if (qkvBias) {
      plan.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [nh * hs], fill: "normal" },
        { name: `${p}.self_attn.k_proj.bias`, shape: [nkv * hs], fill: "normal" },
        { name: `${p}.self_attn.v_proj.bias`, shape: [nkv * hs], fill: "normal" },
      );
    }
    if (outputBias) plan.push({ name: `${p}.self_attn.o_proj.bias`, shape: [C], fill: "normal" });
    if (mlpBias) {
      plan.push(
        { name: `${p}.mlp.gate_proj.bias`, shape: [I], fill: "normal" },
        { name: `${p}.mlp.up_proj.bias`, shape: [I], fill: "normal" },
        { name: `${p}.mlp.down_proj.bias`, shape: [C], fill: "normal" },
      );
    }
    if (qkNorm) plan.push({ name: `${p}.self_attn.q_norm.weight`, shape: [hs], fill: "gain" }, { name: `${p}.self_attn.k_norm.weight`, shape: [hs], fill: "gain" });
  }
  plan.push({ name: "model.norm.weight", shape: [C], fill: "gain" });
  if (config.tie_word_embeddings !== true) plan.push({ name: "lm_head.weight", shape: [V, C], fill: "normal" });

  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  const data: Float32Array[] = [];
  let offset = 0;
  for (const t of plan) {
    const values = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = t.fill === "gain" ? 1 + 0.1 * normal() : std * normal();
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + values.byteLength] };
    offset += values.byteLength;
    data.push(values);
  }
  // safetensors pads the JSON header with spaces so the data starts 8-byte aligned.
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "model.safetensors"), Buffer.concat([len, Buffer.from(json), ...data.map((d) => new Uint8Array(d.buffer))]));
  fs.writeFileSync(path.join(outDir, "config.json"), JSON.stringify(config, null, 2) + "\n");
  return outDir;
}

export function makeRandomLlama(outDir: string, kind: RandomLlamaKind, seed = 1234): string {
  // Benchmark shapes get trained-model-sized weights (std 0.02, as GPT-2's random checkpoint has).
  return writeRandomLlamaFolder(outDir, randomLlamaConfig(kind), { seed, std: kind === "smollm2" ? 0.02 : undefined });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [kind, out, flag, seed] = process.argv.slice(2);
  const k = ALL_KINDS.find((x) => x === kind);
  if (k === undefined || out === undefined || (flag !== undefined && flag !== "--seed")) {
    console.error(`usage: make-random-llama ${ALL_KINDS.join("|")} OUT_DIR [--seed N]`);
    process.exit(2);
  }
  console.log(makeRandomLlama(out, k, seed === undefined ? 1234 : Number(seed)));
}
