import { UserError } from "../../errors.js";
import { isObject, type Json } from "../json.js";
import { escapeRegex, translateRegex } from "./regex.js";

/**
 * tokenizer.json's normalizer: string rewrites applied to each stretch of text between added
 * tokens, before pre-tokenization (Llama 2: Prepend "▁" and Replace " " with "▁"; Qwen2: NFC).
 * A spec is plain data (it crosses from the loader thread); makeNormalizer turns it into a function.
 */
export type NormalizerSpec =
  | { readonly type: "Unicode"; readonly form: "NFC" | "NFD" | "NFKC" | "NFKD" }
  | { readonly type: "Lowercase" }
  | { readonly type: "Prepend"; readonly prepend: string }
  /** `pattern` is JavaScript regex source (a String pattern escaped, a Regex one translated). */
  | { readonly type: "Replace"; readonly pattern: string; readonly content: string }
  | { readonly type: "Sequence"; readonly normalizers: readonly NormalizerSpec[] };

export type Normalizer = (text: string) => string;

const SUPPORTED = "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence";

/** Reads tokenizer.json's "normalizer" (null when absent). */
export function parseNormalizer(json: Json | undefined, file: string): NormalizerSpec | null {
  if (json === undefined || json === null) return null;
  if (!isObject(json)) throw new UserError(`${file}: normalizer must be an object, got ${JSON.stringify(json)}`);
  const type = json["type"];
  switch (type) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return { type: "Unicode", form: type };
    case "Lowercase":
      return { type };
    case "Prepend": {
      const prepend = json["prepend"];
      if (typeof prepend !== "string") throw new UserError(`${file}: Prepend normalizer needs a string "prepend"`);
      return { type, prepend };
    }
    case "Replace":
      return { type, ...parseReplace(json["pattern"], json["content"], `${file}: Replace normalizer`) };
    case "Sequence": {
      const list = json["normalizers"];
      if (!Array.isArray(list)) throw new UserError(`${file}: Sequence normalizer needs a "normalizers" array`);
      return { type, normalizers: list.map((n) => parseNormalizer(n, file)).filter((n): n is NormalizerSpec => n !== null) };
    }
    default:
      throw new UserError(`${file}: unsupported normalizer type ${JSON.stringify(type)} (supported: ${SUPPORTED})`);
  }
}

/** A Replace normalizer's or decoder's { "String": s } or { "Regex": r } pattern and its content. */
export function parseReplace(pattern: Json | undefined, content: Json | undefined, where: string): { pattern: string; content: string } {
  if (typeof content !== "string") throw new UserError(`${where} needs a string "content"`);
  if (isObject(pattern) && typeof pattern["String"] === "string") return { pattern: escapeRegex(pattern["String"]), content };
  if (isObject(pattern) && typeof pattern["Regex"] === "string") return { pattern: translateRegex(pattern["Regex"], where), content };
  throw new UserError(`${where} needs a pattern {"String": ...} or {"Regex": ...}, got ${JSON.stringify(pattern)}`);
}

export function makeNormalizer(spec: NormalizerSpec): Normalizer {
  switch (spec.type) {
    case "Unicode":
      return (text) => text.normalize(spec.form);
    case "Lowercase":
      return (text) => text.toLowerCase();
    case "Prepend":
      // HF prepends only to non-empty text: an empty stretch stays empty.
      return (text) => (text === "" ? text : spec.prepend + text);
    case "Replace": {
      const re = new RegExp(spec.pattern, "gu");
      const content = spec.content;
      // A function, so that "$&" in the content is literal as in HF.
      return (text) => text.replace(re, () => content);
    }
    case "Sequence": {
      const steps = spec.normalizers.map(makeNormalizer);
      return (text) => steps.reduce((t, step) => step(t), text);
    }
  }
}
