import { UserError } from "../../errors.js";
import { isObject, type Json } from "../json.js";
import { escapeRegex } from "./regex.js";

/**
 * Added tokens ("<|im_start|>", "<s>", Qwen's "<think>") are cut out of the text before the
 * pipeline, as HF does: otherwise they would be spelled out as ordinary text and the model would
 * never see the single id it was trained on. Tokens marked normalized=false are matched in the
 * raw text; normalized ones in the text after the normalizer (matched against their normalized
 * content). `special` ones are skipped by decode's skipSpecialTokens.
 */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  /** Also swallows the whitespace to the left (lstrip) or right (rstrip) of the match. */
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  /** Matches only where neither neighbour is a word character. */
  readonly singleWord: boolean;
}

/** tokenizer.json's added_tokens entry, with HF's defaults for missing flags. */
export function parseAddedToken(t: Json, file: string): AddedToken {
  if (!isObject(t) || typeof t["id"] !== "number" || typeof t["content"] !== "string") throw new UserError(`invalid ${file}: bad added token ${JSON.stringify(t)}`);
  const special = t["special"] === true;
  const flag = (key: string, fallback: boolean): boolean => (typeof t[key] === "boolean" ? t[key] : fallback);
  return {
    id: t["id"],
    content: t["content"],
    special,
    lstrip: flag("lstrip", false),
    rstrip: flag("rstrip", false),
    // HF: special tokens default to not normalized, others to normalized.
    normalized: flag("normalized", !special),
    singleWord: flag("single_word", false),
  };
}

/** A token with the flags of a plain special token ("<|endoftext|>" in a GGUF or vocab.json). */
export function specialToken(id: number, content: string): AddedToken {
  return { id, content, special: true, lstrip: false, rstrip: false, normalized: false, singleWord: false };
}

/** Text between added tokens (with its offset in the text it came from), or an added token's id. */
export type Segment = { readonly text: string; readonly start: number } | { readonly id: number };

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE_CHAR = /\p{White_Space}/u;

export class AddedTokenMatcher {
  private readonly pattern: RegExp | null;
  private readonly byContent: Map<string, AddedToken>;

  /** `contentOf` gives the text to match (the normalized content, for normalized tokens). */
  constructor(tokens: readonly AddedToken[], contentOf: (t: AddedToken) => string = (t) => t.content) {
    this.byContent = new Map();
    for (const t of tokens) {
      const content = contentOf(t);
      if (content !== "" && !this.byContent.has(content)) this.byContent.set(content, t);
    }
    // Longest first: at one position "<|im_start|>" beats a shorter token that is its prefix,
    // which is HF's leftmost-longest match.
    const contents = [...this.byContent.keys()].sort((a, b) => b.length - a.length);
    this.pattern = contents.length > 0 ? new RegExp(contents.map(escapeRegex).join("|"), "gu") : null;
  }

  /** Alternating text and token segments, in order; empty texts are dropped. */
  split(text: string): Segment[] {
    const re = this.pattern;
    if (re === null) return text === "" ? [] : [{ text, start: 0 }];
    const segments: Segment[] = [];
    let done = 0; // text before this is already in segments
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const token = this.byContent.get(m[0]);
      if (token === undefined) continue;
      let start = m.index;
      let stop = start + m[0].length;
      if (token.singleWord && (wordCharBefore(text, start) || wordCharAt(text, stop))) continue;
      if (token.lstrip) {
        let s = start;
        while (s > done && isSpaceBefore(text, s)) s -= charLengthBefore(text, s);
        start = s;
      }
      if (token.rstrip) while (stop < text.length && SPACE_CHAR.test(charAt(text, stop))) stop += charAt(text, stop).length;
      if (start > done) segments.push({ text: text.slice(done, start), start: done });
      segments.push({ id: token.id });
      done = stop;
      if (re.lastIndex < stop) re.lastIndex = stop;
    }
    if (done < text.length) segments.push({ text: text.slice(done), start: done });
    return segments;
  }
}

function charAt(text: string, i: number): string {
  return String.fromCodePoint(text.codePointAt(i) ?? 0);
}

function charLengthBefore(text: string, i: number): number {
  const low = text.charCodeAt(i - 1);
  return i >= 2 && low >= 0xdc00 && low < 0xe000 ? 2 : 1;
}

function isSpaceBefore(text: string, i: number): boolean {
  return SPACE_CHAR.test(text.slice(i - charLengthBefore(text, i), i));
}

function wordCharBefore(text: string, i: number): boolean {
  return i > 0 && WORD_CHAR.test(text.slice(i - charLengthBefore(text, i), i));
}

function wordCharAt(text: string, i: number): boolean {
  return i < text.length && WORD_CHAR.test(charAt(text, i));
}
