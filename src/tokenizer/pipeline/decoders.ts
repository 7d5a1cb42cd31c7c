import { UserError } from "../../errors.js";
import { isObject, type Json, type JsonObject } from "../json.js";
import { byteLevelTokenBytes } from "../bytes.js";
import { parseReplace } from "./normalizers.js";

/**
 * tokenizer.json's decoder: token strings back to text. HF runs it over the whole list of tokens
 * at once, but every supported step is either per token (Replace, ByteFallback, ByteLevel,
 * Metaspace, Strip before a Fuse) or touches only the start of the text (Strip after a Fuse,
 * Metaspace's dropped first space). So the loader turns each token into its bytes once
 * (tokenDecoder), and decode and the stream decoder only concatenate bytes and apply the
 * TextStart rule: no per-token strings at run time, and a streamed token's bytes are final.
 */
export type DecoderSpec =
  | { readonly type: "Replace"; readonly pattern: string; readonly content: string }
  | { readonly type: "ByteFallback" }
  | { readonly type: "ByteLevel" }
  | { readonly type: "Fuse" }
  | { readonly type: "Strip"; readonly content: string; readonly start: number; readonly stop: number }
  | { readonly type: "Metaspace"; readonly replacement: string; readonly dropFirst: boolean };

/** What happens at the start of decoded text (after skipped special tokens). */
export type TextStart =
  | { readonly kind: "keep" }
  /** Strip after Fuse: up to `count` copies of `bytes` come off the start of the text. */
  | { readonly kind: "strip"; readonly bytes: readonly number[]; readonly count: number }
  /** Metaspace: the first token's replacement characters (now spaces) are dropped, not turned into spaces. */
  | { readonly kind: "drop-first-spaces" };

const SUPPORTED = "ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence";
const utf8 = new TextEncoder();

/** Reads tokenizer.json's "decoder" as a flat list of steps. */
export function parseDecoder(json: Json | undefined, file: string): DecoderSpec[] {
  if (json === undefined || json === null) throw new UserError(`${file}: no decoder (supported: ${SUPPORTED})`);
  if (!isObject(json)) throw new UserError(`${file}: decoder must be an object, got ${JSON.stringify(json)}`);
  return parseOne(json, file);
}

function parseOne(json: JsonObject, file: string): DecoderSpec[] {
  const type = json["type"];
  switch (type) {
    case "ByteLevel":
    case "ByteFallback":
    case "Fuse":
      return [{ type }];
    case "Replace":
      return [{ type, ...parseReplace(json["pattern"], json["content"], `${file}: Replace decoder`) }];
    case "Strip": {
      const content = json["content"] ?? " ";
      const start = json["start"] ?? 0;
      const stop = json["stop"] ?? 0;
      if (typeof content !== "string" || [...content].length !== 1) throw new UserError(`${file}: Strip decoder's content must be one character`);
      if (typeof start !== "number" || typeof stop !== "number" || !Number.isInteger(start) || !Number.isInteger(stop) || start < 0 || stop < 0) {
        throw new UserError(`${file}: Strip decoder's start and stop must be counts`);
      }
      return [{ type, content, start, stop }];
    }
    case "Metaspace": {
      const replacement = json["replacement"] ?? "▁";
      if (typeof replacement !== "string" || [...replacement].length !== 1) throw new UserError(`${file}: Metaspace decoder's replacement must be one character`);
      const scheme = json["prepend_scheme"];
      const dropFirst = scheme === undefined || scheme === null ? json["add_prefix_space"] !== false : scheme !== "never";
      return [{ type, replacement, dropFirst }];
    }
    case "Sequence": {
      const list = json["decoders"];
      if (!Array.isArray(list)) throw new UserError(`${file}: Sequence decoder needs a "decoders" array`);
      return list.flatMap((d) => {
        if (!isObject(d)) throw new UserError(`${file}: decoder must be an object, got ${JSON.stringify(d)}`);
        return parseOne(d, file);
      });
    }
    default:
      throw new UserError(`${file}: unsupported decoder type ${JSON.stringify(type)} (supported: ${SUPPORTED})`);
  }
}

/** GPT-2's: tokens are byte-level strings, decoded to their bytes. */
export const BYTE_LEVEL_DECODER: readonly DecoderSpec[] = [{ type: "ByteLevel" }];

/**
 * Per-token bytes and the start-of-text rule for a decoder. HF applies a Strip per token unless
 * a Fuse (or ByteLevel, which also joins) came before it; then it strips the joined text.
 */
export function tokenDecoder(steps: readonly DecoderSpec[], file: string): { bytes: (token: string) => Uint8Array; start: TextStart } {
  let fused = false;
  let start: TextStart = { kind: "keep" };
  const perToken: ((t: string | Uint8Array) => string | Uint8Array)[] = [];
  for (const step of steps) {
    switch (step.type) {
      case "Replace": {
        const re = new RegExp(step.pattern, "gu");
        perToken.push((t) => (typeof t === "string" ? t.replace(re, () => step.content) : t));
        break;
      }
      case "ByteFallback":
        perToken.push((t) => {
          const m = typeof t === "string" ? /^<0x([0-9A-Fa-f]{2})>$/.exec(t) : null;
          return m === null ? t : Uint8Array.of(parseInt(m[1], 16));
        });
        break;
      case "ByteLevel":
        perToken.push((t) => (typeof t === "string" ? byteLevelBytes(t) : t));
        fused = true;
        break;
      case "Fuse":
        fused = true;
        break;
      case "Metaspace":
        perToken.push((t) => (typeof t === "string" ? t.replaceAll(step.replacement, " ") : t));
        if (step.dropFirst) start = { kind: "drop-first-spaces" };
        break;
      case "Strip":
        if (fused) {
          if (step.stop > 0) throw new UserError(`${file}: a Strip decoder with stop > 0 after Fuse is not supported`);
          if (step.start > 0) start = { kind: "strip", bytes: [...utf8.encode(step.content)], count: step.start };
        } else {
          perToken.push((t) => (typeof t === "string" ? stripToken(t, step.content, step.start, step.stop) : t));
        }
        break;
    }
  }
  return {
    bytes: (token) => {
      let t: string | Uint8Array = token;
      for (const f of perToken) t = f(t);
      return typeof t === "string" ? utf8.encode(t) : t;
    },
    start,
  };
}

/** HF's ByteLevel decoder: a token whose every character is in GPT-2's table is those bytes; any other is its UTF-8. */
function byteLevelBytes(token: string): Uint8Array {
  return byteLevelTokenBytes(token) ?? utf8.encode(token);
}

function stripToken(token: string, content: string, start: number, stop: number): string {
  const chars = [...token];
  let from = 0;
  while (from < start && from < chars.length && chars[from] === content) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
  return chars.slice(from, to).join("");
}

/**
 * Applies the start-of-text rule to the bytes of one token. `state.pending` counts what is
 * still to strip (it starts at the rule's count and drops to 0 once text has been seen), so the
 * stream decoder and decode() share the rule.
 */
export function applyTextStart(start: TextStart, bytes: Uint8Array, state: { pending: number }): Uint8Array {
  if (state.pending === 0 || bytes.length === 0) return bytes;
  if (start.kind === "drop-first-spaces") {
    state.pending = 0;
    return bytes.filter((b) => b !== 0x20);
  }
  if (start.kind === "keep") return bytes;
  let at = 0;
  const unit = start.bytes;
  while (state.pending > 0 && at + unit.length <= bytes.length && unit.every((b, k) => bytes[at + k] === b)) {
    at += unit.length;
    state.pending--;
  }
  if (at < bytes.length) state.pending = 0;
  return bytes.subarray(at);
}

/** How many strips a fresh text starts with under `start`. */
export function initialPending(start: TextStart): number {
  return start.kind === "strip" ? start.count : start.kind === "drop-first-spaces" ? 1 : 0;
}
