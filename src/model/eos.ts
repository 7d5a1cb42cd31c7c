import { UserError } from "../errors.js";
import type { Folder } from "../io/folder.js";
import type { GGUFFile } from "../io/gguf-parse.js";

/**
 * The end-of-sequence ids a checkpoint declares. HF's generate stops on generation_config.json's
 * eos_token_id, which config.json's seeds; either may be one id or a list (Llama 3 Instruct lists
 * <|end_of_text|>, <|eom_id|> and <|eot_id|>), and either may name an id the other leaves out, so
 * generation stops on every id of both.
 */
export function folderEosTokenIds(folder: Folder, configIds: readonly number[]): number[] {
  const name = "generation_config.json";
  if (!folder.has(name)) return [...configIds];
  const file = folder.path(name);
  let json: unknown;
  try {
    json = JSON.parse(folder.text(name));
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new UserError(`${file}: not a JSON object`);
  const value: unknown = "eos_token_id" in json ? json.eos_token_id : undefined;
  return union(configIds, eosTokenIds(value, file));
}

/** eos_token_id as config files write it: absent or null, one id, or a list of ids. */
export function eosTokenIds(value: unknown, source: string): number[] {
  if (value === undefined || value === null) return [];
  const list: unknown[] = Array.isArray(value) ? value : [value];
  return list.map((id) => {
    if (typeof id === "number" && Number.isInteger(id) && id >= 0) return id;
    throw new UserError(`${source}: eos_token_id must be a token id or a list of token ids, got ${JSON.stringify(value)}`);
  });
}

/** GGUF keeps one id per key: end of sequence, end of turn (<|eot_id|>) and end of message (<|eom_id|>). */
const GGUF_END_KEYS = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"];

export function ggufEosTokenIds(g: GGUFFile): number[] {
  const ids: number[] = [];
  for (const key of GGUF_END_KEYS) {
    const v = g.metadata.get(key);
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new UserError(`${g.file}: metadata ${key} must be a token id, got ${JSON.stringify(String(v))}`);
    ids.push(v);
  }
  return [...new Set(ids)];
}

function union(a: readonly number[], b: readonly number[]): number[] {
  return [...new Set([...a, ...b])];
}
