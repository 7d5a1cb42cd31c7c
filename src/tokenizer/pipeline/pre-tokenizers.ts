import { UserError } from "../../errors.js";
import { isObject, type Json, type JsonObject } from "../json.js";
import { escapeRegex, translateRegex } from "./regex.js";

/**
 * tokenizer.json's pre_tokenizer: cuts normalized text into the words BPE encodes separately
 * (merges never cross a word boundary). Specs are plain data; makePreTokenizer builds the function.
 */
export type SplitBehavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";

export type PreTokenizerSpec =
  /** `pattern` is JavaScript regex source. */
  | { readonly type: "Split"; readonly pattern: string; readonly behavior: SplitBehavior; readonly invert: boolean }
  /** Words become byte sequences; the model then starts from one symbol per byte. */
  | { readonly type: "ByteLevel"; readonly addPrefixSpace: boolean; readonly useRegex: boolean }
  | { readonly type: "Digits"; readonly individualDigits: boolean }
  | { readonly type: "Metaspace"; readonly replacement: string; readonly prependScheme: "always" | "first" | "never"; readonly split: boolean }
  | { readonly type: "Sequence"; readonly preTokenizers: readonly PreTokenizerSpec[] };

/**
 * Words of `text`. `atStart` is true when the text begins the input (nothing, not even an added
 * token, before it): Metaspace's "first" scheme prefixes only such a word.
 */
export type PreTokenizer = (text: string, atStart: boolean) => string[];

/**
 * GPT-2's pattern, which ByteLevel uses when use_regex is set, in Oniguruma syntax as HF has it;
 * translateRegex spells its \s as Oniguruma's whitespace set.
 */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const SUPPORTED = "Split, ByteLevel, Digits, Metaspace, Sequence";
const BEHAVIORS: readonly SplitBehavior[] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

/** Reads tokenizer.json's "pre_tokenizer" (null when absent). */
export function parsePreTokenizer(json: Json | undefined, file: string): PreTokenizerSpec | null {
  if (json === undefined || json === null) return null;
  if (!isObject(json)) throw new UserError(`${file}: pre_tokenizer must be an object, got ${JSON.stringify(json)}`);
  const spec = parseOne(json, file);
  // ByteLevel turns words into bytes; a later step would see GPT-2's byte characters instead of text.
  const flat = flatten(spec);
  const byteLevel = flat.findIndex((p) => p.type === "ByteLevel");
  if (byteLevel >= 0 && byteLevel < flat.length - 1) {
    throw new UserError(`${file}: pre_tokenizer ${flat[byteLevel + 1].type} after ByteLevel is not supported (ByteLevel must come last)`);
  }
  return spec;
}

function parseOne(json: JsonObject, file: string): PreTokenizerSpec {
  const type = json["type"];
  const flag = (key: string, fallback: boolean): boolean => {
    const v = json[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") throw new UserError(`${file}: ${String(type)} pre_tokenizer's ${key} must be true or false`);
    return v;
  };
  switch (type) {
    case "Split": {
      const pattern = json["pattern"];
      const behavior = json["behavior"];
      const where = `${file}: Split pre_tokenizer`;
      if (typeof behavior !== "string" || !BEHAVIORS.some((b) => b === behavior)) {
        throw new UserError(`${where}: unsupported behavior ${JSON.stringify(behavior)} (supported: ${BEHAVIORS.join(", ")})`);
      }
      let source: string;
      if (isObject(pattern) && typeof pattern["String"] === "string") source = escapeRegex(pattern["String"]);
      else if (isObject(pattern) && typeof pattern["Regex"] === "string") source = translateRegex(pattern["Regex"], where);
      else throw new UserError(`${where} needs a pattern {"String": ...} or {"Regex": ...}, got ${JSON.stringify(pattern)}`);
      return { type, pattern: source, behavior: behavior as SplitBehavior, invert: flag("invert", false) };
    }
    case "ByteLevel":
      return { type, addPrefixSpace: flag("add_prefix_space", true), useRegex: flag("use_regex", true) };
    case "Digits":
      return { type, individualDigits: flag("individual_digits", false) };
    case "Metaspace": {
      const replacement = json["replacement"] ?? "▁";
      if (typeof replacement !== "string" || [...replacement].length !== 1) throw new UserError(`${file}: Metaspace pre_tokenizer's replacement must be one character`);
      const scheme = json["prepend_scheme"];
      let prependScheme: "always" | "first" | "never";
      if (scheme === "always" || scheme === "first" || scheme === "never") prependScheme = scheme;
      else if (scheme === undefined || scheme === null) prependScheme = flag("add_prefix_space", true) ? "always" : "never"; // the older spelling
      else throw new UserError(`${file}: Metaspace pre_tokenizer has unknown prepend_scheme ${JSON.stringify(scheme)} (always, first, never)`);
      return { type, replacement, prependScheme, split: flag("split", true) };
    }
    case "Sequence": {
      const list = json["pretokenizers"];
      if (!Array.isArray(list)) throw new UserError(`${file}: Sequence pre_tokenizer needs a "pretokenizers" array`);
      return {
        type,
        preTokenizers: list.map((p) => {
          if (!isObject(p)) throw new UserError(`${file}: pre_tokenizer must be an object, got ${JSON.stringify(p)}`);
          return parseOne(p, file);
        }),
      };
    }
    default:
      throw new UserError(`${file}: unsupported pre_tokenizer type ${JSON.stringify(type)} (supported: ${SUPPORTED})`);
  }
}

function flatten(spec: PreTokenizerSpec): PreTokenizerSpec[] {
  return spec.type === "Sequence" ? spec.preTokenizers.flatMap(flatten) : [spec];
}

/** True when the words come out of ByteLevel (the model then starts from bytes, not characters). */
export function isByteLevel(spec: PreTokenizerSpec | null): boolean {
  return spec !== null && flatten(spec).some((p) => p.type === "ByteLevel");
}

export function makePreTokenizer(spec: PreTokenizerSpec | null): PreTokenizer {
  if (spec === null) return (text) => (text === "" ? [] : [text]);
  const steps = flatten(spec).map(makeStep);
  if (steps.length === 1) {
    const only = steps[0];
    return (text, atStart) => {
      const out: string[] = [];
      only(text, atStart, out);
      return out;
    };
  }
  return (text, atStart) => {
    let pieces = [text];
    for (const step of steps) {
      const next: string[] = [];
      // Only the first piece can start at the beginning of the input.
      pieces.forEach((piece, i) => step(piece, atStart && i === 0, next));
      pieces = next;
    }
    return pieces;
  };
}

/** One pre-tokenizer: appends the words of `text` to `out`. */
type Step = (text: string, atStart: boolean, out: string[]) => void;

function makeStep(spec: PreTokenizerSpec): Step {
  switch (spec.type) {
    case "Split": {
      const re = new RegExp(spec.pattern, "gu");
      return (text, _atStart, out) => split(text, re, spec.behavior, spec.invert, out);
    }
    case "ByteLevel": {
      const re = new RegExp(translateRegex(GPT2_PATTERN, "GPT-2's pattern"), "gu");
      return (text, _atStart, out) => {
        // HF adds the space to each piece it is given, so after a Split every word gets one.
        const spaced = spec.addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
        if (spec.useRegex) split(spaced, re, "Isolated", false, out);
        else if (spaced !== "") out.push(spaced);
      };
    }
    case "Digits": {
      const re = spec.individualDigits ? /[0-9]/gu : /[0-9]+/gu;
      return (text, _atStart, out) => split(text, re, "Isolated", false, out);
    }
    case "Metaspace": {
      const { replacement, prependScheme } = spec;
      const re = new RegExp(escapeRegex(replacement), "gu");
      return (text, atStart, out) => {
        let t = text.replaceAll(" ", replacement);
        const prepend = prependScheme === "always" || (prependScheme === "first" && atStart);
        if (prepend && !t.startsWith(replacement)) t = replacement + t;
        if (spec.split) split(t, re, "MergedWithNext", false, out);
        else if (t !== "") out.push(t);
      };
    }
    case "Sequence":
      throw new Error("makeStep: sequences are flattened first");
  }
}

/**
 * HF's NormalizedString.split: the text in matches and between them, arranged by `behavior`;
 * empty pieces are dropped. Isolated (what most files use) needs no bookkeeping.
 */
export function split(text: string, re: RegExp, behavior: SplitBehavior, invert: boolean, out: string[]): void {
  if (behavior === "Isolated") {
    let prev = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (start > prev) out.push(text.slice(prev, start));
      if (end > start) out.push(text.slice(start, end));
      else re.lastIndex = advance(text, end);
      prev = end;
    }
    if (prev < text.length) out.push(text.slice(prev));
    return;
  }
  // [start, end, isMatch] triples covering the text, as HF's Pattern::find_matches gives them.
  const spans: [number, number, boolean][] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) {
      re.lastIndex = advance(text, end);
      continue;
    }
    if (start > prev) spans.push([prev, start, invert]);
    spans.push([start, end, !invert]);
    prev = end;
  }
  if (prev < text.length) spans.push([prev, text.length, invert]);

  const pieces: [number, number][] = [];
  switch (behavior) {
    case "Removed":
      for (const [s, e, isMatch] of spans) if (!isMatch) pieces.push([s, e]);
      break;
    case "MergedWithPrevious": {
      let previousMatch = false;
      for (const [s, e, isMatch] of spans) {
        const last = pieces[pieces.length - 1];
        if (isMatch && !previousMatch && last !== undefined) last[1] = e;
        else pieces.push([s, e]);
        previousMatch = isMatch;
      }
      break;
    }
    case "MergedWithNext": {
      let previousMatch = false;
      for (let k = spans.length - 1; k >= 0; k--) {
        const [s, e, isMatch] = spans[k];
        const last = pieces[pieces.length - 1];
        if (isMatch && !previousMatch && last !== undefined) last[0] = s;
        else pieces.push([s, e]);
        previousMatch = isMatch;
      }
      pieces.reverse();
      break;
    }
    case "Contiguous": {
      let previousMatch = false;
      for (const [s, e, isMatch] of spans) {
        const last = pieces[pieces.length - 1];
        if (isMatch === previousMatch && last !== undefined) last[1] = e;
        else pieces.push([s, e]);
        previousMatch = isMatch;
      }
      break;
    }
  }
  for (const [s, e] of pieces) if (e > s) out.push(text.slice(s, e));
}

/** The index after the character at `i` (a surrogate pair counts as one). */
function advance(text: string, i: number): number {
  const cp = text.codePointAt(i);
  return i + (cp !== undefined && cp > 0xffff ? 2 : 1);
}
