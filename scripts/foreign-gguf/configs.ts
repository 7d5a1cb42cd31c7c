/**
 * Tiny Llama, Qwen2 and Qwen3 checkpoints for the GGUF files this engine did not write
 * (test/fixtures/foreign-gguf/, made by convert.py with llama.cpp's gguf-py and its reference
 * quantizers). Tests rebuild the same Hugging Face folders from these configs and seeds
 * (writeRandomLlamaFolder is deterministic) and compare the two loads.
 *
 * Shapes are chosen so that each file mixes block types as real ones do: rows of 256 values
 * (K-quants) next to rows of 64 or 96 (K-quants fall back to 32-value blocks).
 *
 *   npm run build && node dist/scripts/foreign-gguf/configs.js OUT_DIR   (writes OUT_DIR/{llama,qwen2,qwen3})
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { writeRandomLlamaFolder } from "../make-random-llama.js";

export type ForeignKind = "llama" | "qwen2" | "qwen3";
export const FOREIGN_KINDS: readonly ForeignKind[] = ["llama", "qwen2", "qwen3"];
export const FOREIGN_SEED = 4242;

const common = { hidden_act: "silu", bos_token_id: 1, eos_token_id: 2, torch_dtype: "float32", max_position_embeddings: 128 };

export function foreignConfig(kind: ForeignKind): Record<string, unknown> {
  switch (kind) {
    case "llama":
      // Llama 3 with its RoPE scaling (a rope_freqs tensor), GQA, tied embeddings.
      return {
        ...common,
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: 256,
        intermediate_size: 96,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 32,
        vocab_size: 40,
        rms_norm_eps: 1e-5,
        rope_theta: 500000.0,
        rope_scaling: { rope_type: "llama3", factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 16 },
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
      };
    case "qwen2":
      // llama.cpp's qwen2 takes head_dim = hidden / heads, as every Qwen2 has.
      return {
        ...common,
        architectures: ["Qwen2ForCausalLM"],
        model_type: "qwen2",
        hidden_size: 256,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 8,
        num_key_value_heads: 2,
        vocab_size: 40,
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
        intermediate_size: 96,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 32,
        vocab_size: 48,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000.0,
        attention_bias: false,
        tie_word_embeddings: false,
      };
  }
}

/** The Hugging Face folder a foreign GGUF fixture was converted from. */
export function writeForeignFolder(outDir: string, kind: ForeignKind): string {
  return writeRandomLlamaFolder(outDir, foreignConfig(kind), { seed: FOREIGN_SEED });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (out === undefined) {
    console.error("usage: configs OUT_DIR");
    process.exit(2);
  }
  for (const kind of FOREIGN_KINDS) console.log(writeForeignFolder(path.join(out, kind), kind));
}
