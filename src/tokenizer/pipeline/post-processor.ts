import { UserError } from "../../errors.js";
import { isObject, type Json, type JsonObject } from "../json.js";

/**
 * The special tokens encode adds around one text (HF's post_processor, for a single sequence):
 * Llama 2's TemplateProcessing gives prefix [<s>], GPT-2's and Qwen2's ByteLevel give nothing.
 */
export interface SpecialWrap {
  readonly prefix: readonly number[];
  readonly suffix: readonly number[];
}

export const NO_WRAP: SpecialWrap = { prefix: [], suffix: [] };

const SUPPORTED = "TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence";

/** Reads tokenizer.json's "post_processor" as the ids it adds around a single text. */
export function parsePostProcessor(json: Json | undefined, file: string): SpecialWrap {
  if (json === undefined || json === null) return NO_WRAP;
  if (!isObject(json)) throw new UserError(`${file}: post_processor must be an object, got ${JSON.stringify(json)}`);
  const type = json["type"];
  const where = `${file}: ${String(type)} post_processor`;
  switch (type) {
    case "ByteLevel":
      return NO_WRAP; // only adjusts offsets
    case "TemplateProcessing":
      return template(json, where);
    case "RobertaProcessing":
    case "BertProcessing":
      return { prefix: [pairId(json["cls"], "cls", where)], suffix: [pairId(json["sep"], "sep", where)] };
    case "Sequence": {
      const list = json["processors"];
      if (!Array.isArray(list)) throw new UserError(`${where} needs a "processors" array`);
      // Each processor wraps what the previous one produced.
      return list.reduce<SpecialWrap>((inner, p) => {
        const outer = parsePostProcessor(p, file);
        return { prefix: [...outer.prefix, ...inner.prefix], suffix: [...inner.suffix, ...outer.suffix] };
      }, NO_WRAP);
    }
    default:
      throw new UserError(`${file}: unsupported post_processor type ${JSON.stringify(type)} (supported: ${SUPPORTED})`);
  }
}

/** ["</s>", 2] as RobertaProcessing stores cls and sep. */
function pairId(value: Json | undefined, name: string, where: string): number {
  if (Array.isArray(value) && value.length === 2 && typeof value[1] === "number" && Number.isInteger(value[1]) && value[1] >= 0) return value[1];
  throw new UserError(`${where}: ${name} must be [token, id], got ${JSON.stringify(value)}`);
}

/** TemplateProcessing's "single": special tokens before and after the sequence $A. */
function template(json: JsonObject, where: string): SpecialWrap {
  const specials = json["special_tokens"] ?? {};
  if (!isObject(specials)) throw new UserError(`${where}: special_tokens must be an object`);
  const idsOf = (name: string): number[] => {
    const entry = specials[name];
    const ids = isObject(entry) ? entry["ids"] : undefined;
    if (!Array.isArray(ids) || !ids.every((id): id is number => typeof id === "number" && Number.isInteger(id) && id >= 0)) {
      throw new UserError(`${where}: special token ${JSON.stringify(name)} is not in special_tokens with its ids`);
    }
    return ids;
  };
  const single = json["single"];
  const items: ({ special: string } | { sequence: true })[] = [];
  if (typeof single === "string") {
    // The string form: "<s> $A </s>", a piece optionally followed by ":type_id".
    for (const piece of single.split(" ").filter((p) => p !== "")) {
      const name = piece.replace(/:\d+$/, "");
      items.push(/^\$(A|B|\d*)$/.test(name) ? { sequence: true } : { special: name });
    }
  } else if (Array.isArray(single)) {
    for (const item of single) {
      if (isObject(item) && isObject(item["SpecialToken"]) && typeof item["SpecialToken"]["id"] === "string") items.push({ special: item["SpecialToken"]["id"] });
      else if (isObject(item) && isObject(item["Sequence"])) items.push({ sequence: true });
      else throw new UserError(`${where}: bad template piece ${JSON.stringify(item)}`);
    }
  } else {
    throw new UserError(`${where} needs a "single" template`);
  }
  const at = items.findIndex((p) => "sequence" in p);
  if (at < 0 || items.slice(at + 1).some((p) => "sequence" in p)) throw new UserError(`${where}: the single template must hold the sequence exactly once`);
  const ids = (list: typeof items) => list.flatMap((p) => ("special" in p ? idsOf(p.special) : []));
  return { prefix: ids(items.slice(0, at)), suffix: ids(items.slice(at + 1)) };
}
