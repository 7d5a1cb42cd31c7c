import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Backend } from "../kernels/backend.js";
import { parseGPT2Config, type GPT2Config } from "./config.js";
import { loadSafetensorsWeights } from "./load-safetensors.js";
import { openGGUFModel } from "./load-gguf.js";
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

/** A model whose config and tokenizer are read and whose weights are still on disk. */
export interface OpenedModel {
  readonly config: GPT2Config;
  readonly tokenizer: Tokenizer;
  /** Reads the weights into the backend's memory, converting layouts (and quantizing for q8). */
  loadWeights(backend: Backend, dtype: WeightDType): GPT2Weights;
}

/**
 * Opens a model: `source` is a folder in Hugging Face layout (config.json, tokenizer files,
 * model.safetensors or a sharded index), a .gguf file, or a Hugging Face Hub id
 * "org/name[@revision]" (downloaded into the HF cache first). Everything but the weights is
 * read here, so a bad config or tokenizer fails before a backend exists, and the tokenizer's
 * short-lived loader is gone before the weights arrive.
 */
export async function openModel(source: string, options: { quiet?: boolean } = {}): Promise<OpenedModel> {
  switch (classifyModelSource(source)) {
    case "gguf":
      return openGGUFModel(source);
    case "hub": {
      let dir: string;
      try {
        dir = await resolveHubModel(source, { quiet: options.quiet });
      } catch (e) {
        // A mistyped relative path looks like org/name too; say so rather than only blame the Hub.
        if (e instanceof UserError) throw new UserError(`${e.message} (and there is no local folder ${source})`);
        throw e;
      }
      return openModelFolder(dir);
    }
    case "folder":
      return openModelFolder(source);
  }
}

/** openModel, then the weights into `backend`. */
export async function loadModel(source: string, backend: Backend, dtype: WeightDType, options: { quiet?: boolean } = {}): Promise<LoadedModel> {
  const { config, tokenizer, loadWeights } = await openModel(source, options);
  return { config, tokenizer, weights: loadWeights(backend, dtype) };
}

/** Reads config and tokenizer of a Hugging Face model folder; the weights load on demand. */
export async function openModelFolder(dir: string): Promise<OpenedModel> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model folder ${dir} does not exist`);
  const config = readConfig(dir);
  const tokenizer = await loadTokenizer(dir);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new UserError(`${path.join(dir, "config.json")}: vocab_size ${config.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`);
  }
  return { config, tokenizer, loadWeights: (backend, dtype) => loadSafetensorsWeights(dir, config, backend, dtype) };
}
