import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Backend } from "../kernels/backend.js";
import { parseGPT2Config, type GPT2Config } from "./config.js";
import { loadSafetensorsWeights } from "./load-safetensors.js";
import { loadGGUFModel } from "./load-gguf.js";
import { resolveHubModel } from "../io/hub/resolve.js";
import { classifyModelSource } from "../io/hub/source.js";
import type { GPT2Weights, WeightDType } from "./weights.js";
import { loadTokenizer, type Tokenizer } from "../tokenizer/index.js";

/** Everything a loaded checkpoint provides. */
export interface LoadedModel {
  readonly config: GPT2Config;
  readonly weights: GPT2Weights;
  readonly tokenizer: Tokenizer;
}

/** Reads and validates config.json of a model folder in Hugging Face layout. */
export function readConfig(dir: string): GPT2Config {
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new UserError(`${file}: missing (is ${dir} a model folder?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  return parseGPT2Config(json, file);
}

/**
 * Loads a model into the backend's memory. `source` is a folder in Hugging Face layout
 * (config.json, tokenizer files, model.safetensors or a sharded index), a .gguf file, or a
 * Hugging Face Hub id "org/name[@revision]" (downloaded into the HF cache first).
 */
export async function loadModel(source: string, backend: Backend, dtype: WeightDType, options: { quiet?: boolean } = {}): Promise<LoadedModel> {
  switch (classifyModelSource(source)) {
    case "gguf":
      return loadGGUFModel(source, backend, dtype);
    case "hub": {
      let dir: string;
      try {
        dir = await resolveHubModel(source, { quiet: options.quiet });
      } catch (e) {
        // A mistyped relative path looks like org/name too; say so rather than only blame the Hub.
        if (e instanceof UserError) throw new UserError(`${e.message} (and there is no local folder ${source})`);
        throw e;
      }
      return loadModelFolder(dir, backend, dtype);
    }
    case "folder":
      return loadModelFolder(source, backend, dtype);
  }
}

/** Loads config, weights and tokenizer of a Hugging Face model folder. */
export async function loadModelFolder(dir: string, backend: Backend, dtype: WeightDType): Promise<LoadedModel> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model folder ${dir} does not exist`);
  const config = readConfig(dir);
  // The tokenizer first: its loader's transient memory is gone before the weights arrive.
  const tokenizer = await loadTokenizer(dir);
  const weights = loadSafetensorsWeights(dir, config, backend, dtype);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new UserError(`${path.join(dir, "config.json")}: vocab_size ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`);
  }
  return { config, weights, tokenizer };
}
