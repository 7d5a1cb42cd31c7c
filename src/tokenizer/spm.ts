import { UserError } from "../errors.js";
import { TokenType } from "../io/gguf.js";
import { MinHeap } from "./heap.js";
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from "./types.js";

/**
 * A SentencePiece-style vocabulary as a GGUF file stores it (tokenizer.ggml.model = "llama":
 * Llama 1/2, TinyLlama, Mistral v0.1): every token's text with spaces spelled "▁", a score per
 * token (merges prefer the highest), a type per token (TokenType), and byte tokens "<0x00>" to
 * "<0xFF>" for characters the vocabulary lacks. Plain data, so it can cross a worker boundary.
 */
export interface SpmVocabulary {
  readonly tokens: readonly string[];
  readonly scores: Float32Array<ArrayBuffer>;
  readonly tokenTypes: Uint8Array<ArrayBuffer>;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  /** Encode adds BOS / EOS (when asked for special tokens). */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** A space goes in front of the text, and after every special token (SentencePiece's dummy prefix). */
  readonly addSpacePrefix: boolean;
  readonly chatTemplate: string | null;
}

const SPACE = " ";
const ESCAPED_SPACE = "\u2581"; // "▁"
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;
const EMPTY = new Uint8Array(0);
const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text as its UTF-8 has it: a lone surrogate becomes U+FFFD (String.prototype.toWellFormed). */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

/** The byte a BYTE token "<0xXX>" stands for; a file whose byte token is spelled otherwise is refused. */
export function byteOfToken(token: string, id: number, source: string): number {
  const m = BYTE_TOKEN.exec(token);
  if (m === null) throw new UserError(`${source}: token ${id} ${JSON.stringify(token)} has type BYTE but is not spelled <0xXX>`);
  return parseInt(m[1], 16);
}

/**
 * llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm in llama-vocab.cpp), step for step:
 *
 * 1. Control, unknown and user-defined tokens written in the text are cut out of it, the longest
 *    tokens first (tokenizer_st_partition).
 * 2. Each stretch of text between them gets a leading space (at the start, and after every special
 *    token) and has its spaces replaced by "▁".
 * 3. The stretch starts as one symbol per character. Repeatedly, of all adjacent pairs whose
 *    concatenation is a token, the one with the highest score (the leftmost among equals) is merged.
 * 4. Each final symbol is its token; a character that is no token becomes its UTF-8 bytes' tokens.
 *
 * Decoding turns "▁" back into spaces and byte tokens into their byte, and drops the leading space
 * of the first token of a list (the dummy prefix), as llama_detokenize does.
 */
export class SpmTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly hasText = true;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;

  private readonly v: SpmVocabulary;
  /** Token text → id; for a text listed twice the later id, as llama.cpp's token_to_id map keeps. */
  private readonly ids = new Map<string, number>();
  /** Scores as ranks (0 = the highest score; equal scores, equal ranks), so a heap key is one number. */
  private readonly rank: Int32Array;
  /** The token of each byte: "<0xXX>", else the byte as a one-character token (ASCII only); -1 if none. */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** Control, unknown and user-defined tokens, the longest first: what encode cuts out of text. */
  private readonly specials: readonly number[];
  /** Each token's text as decode writes it with special tokens shown (token_to_piece). */
  private readonly pieces: readonly Uint8Array[];
  /** The longest token text (UTF-16 units): a longer pair cannot be a token, so it is not looked up. */
  private readonly maxTokenLength: number;

  constructor(vocabulary: SpmVocabulary, source = "tokenizer") {
    const v = vocabulary;
    this.v = v;
    this.vocabSize = v.tokens.length;
    v.tokens.forEach((token, id) => this.ids.set(token, id));
    this.maxTokenLength = v.tokens.reduce((max, t) => Math.max(max, t.length), 0);

    const distinct = [...new Set(v.scores)].sort((a, b) => b - a);
    const rankOf = new Map(distinct.map((score, rank) => [score, rank]));
    this.rank = Int32Array.from(v.scores, (score) => rankOf.get(score) ?? 0);

    for (let b = 0; b < 256; b++) {
      const id = this.ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? (b < 0x80 ? this.ids.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteIds[b] = id;
    }

    const cut: readonly number[] = [TokenType.CONTROL, TokenType.UNKNOWN, TokenType.USER_DEFINED];
    const byteLength = (id: number) => utf8.encode(v.tokens[id]).length;
    // A stable sort: llama.cpp's std::sort leaves the order of equally long tokens unspecified.
    this.specials = v.tokens
      .map((_, id) => id)
      .filter((id) => cut.includes(v.tokenTypes[id]))
      .sort((a, b) => byteLength(b) - byteLength(a));

    this.pieces = v.tokens.map((token, id) => {
      switch (v.tokenTypes[id]) {
        case TokenType.NORMAL:
          return utf8.encode(token.replaceAll(ESCAPED_SPACE, SPACE));
        case TokenType.BYTE:
          return Uint8Array.of(byteOfToken(token, id, source));
        case TokenType.CONTROL:
        case TokenType.UNKNOWN:
        case TokenType.USER_DEFINED:
          return utf8.encode(token);
        default:
          return EMPTY; // unused and undefined tokens have no text
      }
    });

    this.bosTokenId = v.bosTokenId;
    this.eosTokenId = v.eosTokenId;
    this.bosToken = v.bosTokenId === null ? null : v.tokens[v.bosTokenId];
    this.eosToken = v.eosTokenId === null ? null : v.tokens[v.eosTokenId];
    this.chatTemplate = v.chatTemplate;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addSpecial = options.addSpecialTokens ?? true;
    const out: number[] = [];
    if (addSpecial && this.v.addBos && this.bosTokenId !== null) out.push(this.bosTokenId);
    let afterSpecial = true; // the start of the text counts as following a special token
    for (const fragment of this.cutSpecialTokens(wellFormed(text))) {
      if (typeof fragment === "number") {
        out.push(fragment);
        afterSpecial = true;
        continue;
      }
      const prefixed = this.v.addSpacePrefix && afterSpecial ? SPACE + fragment : fragment;
      this.encodeStretch(prefixed.replaceAll(SPACE, ESCAPED_SPACE), out);
      afterSpecial = false;
    }
    if (addSpecial && this.v.addEos && this.eosTokenId !== null) out.push(this.eosTokenId);
    return out;
  }

  /** Text and special token ids, in order: each special token, longest first, splits every stretch of text it occurs in. */
  private cutSpecialTokens(text: string): (string | number)[] {
    let fragments: (string | number)[] = text === "" ? [] : [text];
    for (const id of this.specials) {
      const token = this.v.tokens[id];
      fragments = fragments.flatMap((f) => {
        if (typeof f === "number" || !f.includes(token)) return [f];
        const parts = f.split(token);
        return parts.flatMap((part, i) => [...(i > 0 ? [id] : []), ...(part === "" ? [] : [part])]);
      });
    }
    return fragments;
  }

  /**
   * Steps 3 and 4 for one stretch (spaces already "▁"). Symbols are ranges [start, end) of the
   * text, linked as a list; a heap holds candidate pairs keyed by (score rank, left position), so
   * the best pair pops first. An entry whose pair has changed since (a side merged elsewhere) no
   * longer gives a token of its rank and is skipped, as llama.cpp skips its stale bigrams.
   */
  private encodeStretch(text: string, out: number[]): void {
    const chars = Array.from(text);
    const n = chars.length;
    const start = new Int32Array(n);
    const end = new Int32Array(n);
    for (let i = 0, at = 0; i < n; i++) {
      start[i] = at;
      at += chars[i].length;
      end[i] = at;
    }
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();

    const pairToken = (left: number): number | undefined => {
      const right = next[left];
      if (right < 0 || end[right] - start[left] > this.maxTokenLength) return undefined;
      return this.ids.get(text.slice(start[left], end[right]));
    };
    const addPair = (left: number): void => {
      if (left < 0) return;
      const id = pairToken(left);
      if (id !== undefined) heap.push(this.rank[id] * n + left);
    };

    for (let i = 0; i + 1 < n; i++) addPair(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const left = key % n;
      const id = alive[left] === 1 ? pairToken(left) : undefined;
      if (id === undefined || this.rank[id] !== Math.floor(key / n)) continue;
      const right = next[left];
      end[left] = end[right]; // the right symbol joins the left one
      alive[right] = 0;
      next[left] = next[right];
      if (next[right] >= 0) prev[next[right]] = left;
      addPair(prev[left]);
      addPair(left);
    }

    for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
      const piece = text.slice(start[i], end[i]);
      // A merged symbol is always a token; a single character may not be, and falls back to bytes.
      const id = this.ids.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      for (const b of utf8.encode(piece)) {
        const byteId = this.byteIds[b];
        if (byteId < 0) throw new UserError(`the vocabulary has no token for ${JSON.stringify(piece)} and no byte token <0x${b.toString(16).toUpperCase().padStart(2, "0")}> to spell it`);
        out.push(byteId);
      }
    }
  }

  tokenBytes(id: number): Uint8Array {
    return this.pieces[id] ?? EMPTY;
  }

  /** A token's text; control and unknown tokens only when shown (llama.cpp's token_to_piece). */
  private piece(id: number, showSpecial: boolean): Uint8Array {
    const type = this.v.tokenTypes[id];
    if (!showSpecial && (type === TokenType.CONTROL || type === TokenType.UNKNOWN)) return EMPTY;
    return this.tokenBytes(id);
  }

  /** llama_detokenize(remove_special = false, unparse_special = !skipSpecialTokens). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const stream = this.streamFrom(true, !(options.skipSpecialTokens ?? false));
    let text = "";
    for (let i = 0; i < ids.length; i++) text += stream.push(ids[i]);
    return text + stream.flush();
  }

  /**
   * Pieces as decode writes them: only a stream that starts the text (no context) drops the
   * leading space of its first token, as llama.cpp drops it only from a list's first token.
   */
  createStreamDecoder(context: readonly number[] = []): StreamDecoder {
    return this.streamFrom(context.length === 0, true);
  }

  private streamFrom(startsText: boolean, showSpecial: boolean): StreamDecoder {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let removeSpace = startsText && this.v.addSpacePrefix;
    return {
      push: (id) => {
        if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return "";
        let bytes = this.piece(id, showSpecial);
        if (removeSpace && bytes[0] === 0x20) bytes = bytes.subarray(1);
        removeSpace = false;
        return decoder.decode(bytes, { stream: true });
      },
      flush: () => decoder.decode(),
    };
  }
}
