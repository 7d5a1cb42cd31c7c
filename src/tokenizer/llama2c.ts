import fs from "node:fs";
import { UserError } from "../errors.js";
import { MinHeap } from "./heap.js";
import type { DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from "./types.js";

const BOS = 1;
/**
 * run.c stops when the model picks BOS: llama2.c's TinyStories models separate stories with BOS
 * and never emit EOS (id 2). Generation ends on this id, so it is the engine's eosTokenId.
 */
const STOP = BOS;
const BYTE_FALLBACK_OFFSET = 3; // <0x00> is id 3

/**
 * llama2.c's tokenizer.bin (a SentencePiece BPE vocabulary exported for run.c): int32
 * max_token_length, then per id float32 score, int32 length and that many bytes, with "▁"
 * already a space and byte-fallback pieces spelled "<0xXX>". Encoding and decoding follow run.c
 * exactly, so prompts give the ids run.c gives.
 */
export class Llama2cTokenizer implements Tokenizer {
  readonly hasText = true;
  readonly bosTokenId = BOS;
  readonly eosTokenId = STOP;
  readonly chatTemplate = null;
  readonly vocabSize: number;
  readonly bosToken: string;
  readonly eosToken: string;
  /** Pieces as binary strings (one char per byte), so concatenation is byte concatenation. */
  private readonly pieces: readonly string[];
  private readonly ids: ReadonlyMap<string, number>;
  private readonly bytes: readonly Uint8Array[];
  private readonly scoreRank: Int32Array;

  constructor(
    pieces: readonly Uint8Array[],
    private readonly scores: Float32Array,
  ) {
    this.vocabSize = pieces.length;
    this.pieces = pieces.map((p) => Buffer.from(p).toString("latin1"));
    const ids = new Map<string, number>();
    // run.c's bsearch over equal strings finds any of them; the first is as good and deterministic.
    this.pieces.forEach((p, id) => {
      if (!ids.has(p)) ids.set(p, id);
    });
    this.ids = ids;
    // Rank 0 is the highest score; equal scores share a rank so position breaks the tie.
    const distinct = [...new Set(scores)].sort((x, y) => y - x);
    const rankOf = new Map(distinct.map((score, rank) => [score, rank]));
    this.scoreRank = Int32Array.from(scores, (score) => rankOf.get(score) ?? 0);
    this.bytes = pieces.map((p) => {
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(Buffer.from(p).toString("latin1"));
      return m === null ? p : Uint8Array.of(parseInt(m[1], 16));
    });
    this.bosToken = Buffer.from(this.tokenBytes(BOS)).toString("utf8");
    this.eosToken = this.bosToken;
  }

  /** run.c's encode(text, bos=1, eos=0); bos=0 without special tokens. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const utf8 = Buffer.from(text, "utf8");
    const tokens: number[] = options.addSpecialTokens === false ? [] : [BOS];
    if (utf8.length > 0) {
      const space = this.ids.get(" ");
      if (space === undefined) throw new UserError("the llama2.c tokenizer has no \" \" piece for the dummy prefix");
      tokens.push(space);
    }
    // Whole UTF-8 characters (at most 4 bytes) are looked up; unknown ones fall back to byte ids.
    let start = 0;
    for (let i = 0; i < utf8.length; i++) {
      const continues = i + 1 < utf8.length && (utf8[i + 1] & 0xc0) === 0x80 && i + 1 - start < 4;
      if (continues) continue;
      const ch = utf8.subarray(start, i + 1);
      const id = this.ids.get(ch.toString("latin1"));
      if (id !== undefined) tokens.push(id);
      else for (const b of ch) tokens.push(b + BYTE_FALLBACK_OFFSET);
      start = i + 1;
    }
    return this.merge(tokens);
  }

  /**
   * run.c's merge loop: replace the best-scoring adjacent pair that is a piece (the leftmost
   * among equal scores) until none is. run.c rescans every pair per merge, quadratic in the text;
   * a heap keyed by (score rank, position) with stale entries skipped picks the same pairs.
   */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();
    const mergeAt = (i: number): number => {
      const j = next[i];
      if (j < 0) return -1;
      const id = this.ids.get(this.pieces[tokens[i]] + this.pieces[tokens[j]]);
      return id !== undefined && this.scores[id] > -1e10 ? id : -1;
    };
    const push = (i: number) => {
      const id = mergeAt(i);
      if (id >= 0) heap.push(this.scoreRank[id] * n + i);
    };
    for (let i = 0; i < n; i++) push(i);
    while (heap.size > 0) {
      const key = heap.pop();
      const i = key % n;
      const id = alive[i] === 1 ? mergeAt(i) : -1;
      if (id < 0 || this.scoreRank[id] !== Math.floor(key / n)) continue;
      const j = next[i];
      tokens[i] = id;
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) push(prev[i]);
      push(i);
    }
    return tokens.filter((_, i) => alive[i] === 1);
  }

  /**
   * run.c's decode over a sequence: a piece right after BOS loses its leading space. Skipping
   * special tokens leaves out <unk>, BOS and EOS (ids 0 to 2), as SentencePiece's decode does.
   */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const decoder = this.createStreamDecoder();
    let text = "";
    for (let i = 0; i < ids.length; i++) {
      const piece = decoder.push(ids[i]);
      if (!(options.skipSpecialTokens === true && ids[i] < BYTE_FALLBACK_OFFSET)) text += piece;
    }
    return text + decoder.flush();
  }

  tokenBytes(id: number): Uint8Array {
    return this.bytes[id] ?? new Uint8Array(0);
  }

  /** `context` is what the stream continues (the prompt): its last id decides the first piece's space. */
  createStreamDecoder(context: readonly number[] = []): StreamDecoder {
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let previous = context.length > 0 ? context[context.length - 1] : -1;
    return {
      push: (id) => {
        let bytes = this.tokenBytes(id);
        if (previous === BOS && bytes[0] === 0x20) bytes = bytes.subarray(1);
        previous = id;
        return decoder.decode(bytes, { stream: true });
      },
      flush: () => {
        previous = -1;
        return decoder.decode();
      },
    };
  }
}

/** Reads a llama2.c tokenizer.bin; every malformed file is a one-line UserError naming it. */
export function loadLlama2cTokenizer(file: string): Llama2cTokenizer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch {
    throw new UserError(`tokenizer file ${file} does not exist or cannot be read`);
  }
  const bad = (why: string) => new UserError(`${file}: not a llama2.c tokenizer.bin: ${why}`);
  if (data.length < 4) throw bad(`${data.length} bytes is too short`);
  const maxTokenLength = data.readInt32LE(0);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) throw bad(`max_token_length ${maxTokenLength} is out of range`);
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let at = 4;
  while (at < data.length) {
    if (at + 8 > data.length) throw bad(`token ${pieces.length} is cut off at byte ${at} of ${data.length}`);
    const score = data.readFloatLE(at);
    const len = data.readInt32LE(at + 4);
    if (len <= 0 || len > maxTokenLength) throw bad(`token ${pieces.length} has length ${len} (max_token_length is ${maxTokenLength})`);
    if (at + 8 + len > data.length) throw bad(`token ${pieces.length} is cut off at byte ${at} of ${data.length}`);
    if (Number.isNaN(score)) throw bad(`token ${pieces.length} has a NaN score`);
    pieces.push(data.subarray(at + 8, at + 8 + len));
    scores.push(score);
    at += 8 + len;
  }
  if (pieces.length < 256 + BYTE_FALLBACK_OFFSET) throw bad(`it has ${pieces.length} tokens, fewer than <unk>, BOS, EOS and the 256 byte pieces`);
  return new Llama2cTokenizer(pieces, Float32Array.from(scores));
}
