import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Backend } from "../kernels/backend.js";
import { parseGPT2Config, type GPT2Config } from "./config.js";
import { loadSafetensorsWeights } from "./load-safetensors.js";
import type { GPT2Weights, WeightDType } from "./weights.js";

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

/** Loads config and weights of a Hugging Face model folder into the backend's memory. */
export function loadModelFolder(dir: string, backend: Backend, dtype: WeightDType): { config: GPT2Config; weights: GPT2Weights } {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model folder ${dir} does not exist`);
  const config = readConfig(dir);
  return { config, weights: loadSafetensorsWeights(dir, config, backend, dtype) };
}
