import { UserError } from "../errors.js";
import type { ByteSource } from "../io/byte-source.js";
import type { Folder } from "../io/folder.js";
import { parseGGUF } from "../io/gguf-parse.js";
import { familyOfConfig, familyOfGGUF } from "../model/families/index.js";
import type { ModelSpec } from "../model/model.js";
import { tokenizerOf } from "../tokenizer/compiled.js";
import { compileGGUFTokenizer, tokenizerTablesFromGGUF, unreadableGGUFTokenizer } from "../tokenizer/gguf.js";
import { IdsOnlyTokenizer } from "../tokenizer/ids-only.js";
import { readTokenizerFiles } from "../tokenizer/read-folder.js";
import { BpeTokenizer } from "../tokenizer/tokenizer.js";
import type { Tokenizer } from "../tokenizer/types.js";
import { defaultStorage, type WeightDType } from "../model/matrix.js";

/** A model's config read into a spec (weights still in the downloaded bytes) and its tokenizer. */
export interface OpenedModel {
  readonly spec: ModelSpec;
  readonly tokenizer: Tokenizer;
  /** The storage the CLI picks without --dtype: f32 for a folder, null (each matrix as stored) for a GGUF. */
  readonly storage: WeightDType | null;
}

/** A Hugging Face folder in memory, through the same family registry and readers as on Node. */
export function openFolder(folder: Folder): OpenedModel {
  const configFile = folder.path("config.json");
  let config: unknown;
  try {
    config = JSON.parse(folder.text("config.json"));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${configFile}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new UserError(`${configFile}: not a JSON object`);
  const json = config as Readonly<Record<string, unknown>>;
  const spec = familyOfConfig(json, configFile).fromFolder(folder, json, configFile);
  const tokenizer = new BpeTokenizer(readTokenizerFiles(folder));
  return { spec, tokenizer: checkVocab(tokenizer, spec, configFile), storage: defaultStorage("folder") };
}

/** A GGUF file in memory; its tokenizer comes from its metadata. */
export function openGGUF(source: ByteSource): OpenedModel {
  const name = source.name;
  const g = parseGGUF(source, { arrays: "read" });
  const spec = familyOfGGUF(g).fromGGUF(g);
  // A vocabulary this engine cannot read (as on Node): prompts are then token ids.
  const unreadable = spec.family === "gpt2" ? null : unreadableGGUFTokenizer(g);
  const tokenizer: Tokenizer =
    unreadable === null
      ? tokenizerOf(compileGGUFTokenizer(tokenizerTablesFromGGUF(g), name), name)
      : new IdsOnlyTokenizer(spec.shape.vocabSize, null, spec.eosTokenIds[0] ?? null, `${name} (${unreadable})`);
  return { spec, tokenizer: checkVocab(tokenizer, spec, name), storage: defaultStorage("gguf") };
}

function checkVocab(tokenizer: Tokenizer, spec: ModelSpec, where: string): Tokenizer {
  if (tokenizer.vocabSize > spec.shape.vocabSize) throw new UserError(`${where}: vocab_size ${spec.shape.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`);
  return tokenizer;
}
