import { BpeMerger } from "../bpe.js";

/**
 * HF's BPE model on one pre-tokenized word. A word starts as one symbol per byte (byte-level
 * vocabularies: GPT-2, Llama 3, Qwen2) or per character (SentencePiece-style vocabularies:
 * Llama 2), a character missing from the vocabulary becoming its <0xXX> byte tokens
 * (byte_fallback) or the unknown token; then the merges run.
 */
export interface BpeModelOptions {
  /** Words are bytes (after a ByteLevel pre-tokenizer), not characters. */
  readonly byteLevel: boolean;
  readonly byteFallback: boolean;
  readonly unkTokenId: number | null;
  /** Runs of unknown characters become one unknown token. */
  readonly fuseUnk: boolean;
  /** A word that is itself a token is that token, merges or not (Llama 3). */
  readonly ignoreMerges: boolean;
}

export interface BpeModelTables {
  readonly options: BpeModelOptions;
  readonly merges: Int32Array; // (3 · merges,): merge r fuses merges[3r] and merges[3r + 1] into merges[3r + 2]
  /** (256,): byte-level: the id of each byte's token; otherwise the id of its <0xXX> token; -1 if absent. */
  readonly byteIds: Int32Array;
  /** Model vocabulary keys as UTF-8 (byte-level: the raw bytes): id's key is keyBytes[keyOffsets[id], keyOffsets[id + 1]). */
  readonly keyBytes: Uint8Array;
  readonly keyOffsets: Uint32Array;
}

/** Words longer than this are not cached: they are rare, and would let one input bloat memory. */
const MAX_CACHED_WORD = 64;
const MAX_CACHE_ENTRIES = 50_000;

const utf8 = new TextEncoder();

export class BpeModel {
  private readonly merger: BpeMerger;
  private readonly lookup: KeyLookup;
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly tables: BpeModelTables) {
    this.merger = new BpeMerger(tables.merges);
    this.lookup = new KeyLookup(tables.keyBytes, tables.keyOffsets);
  }

  /** Appends the ids of one word to `out`. */
  encodeWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.encodeUncached(utf8.encode(word));
      if (word.length <= MAX_CACHED_WORD) {
        if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
        this.cache.set(word, ids);
      }
    }
    // A loop, not push(...ids): one huge word would overflow the argument limit.
    for (const id of ids) out.push(id);
  }

  private encodeUncached(bytes: Uint8Array): number[] {
    const { options, byteIds } = this.tables;
    if (options.ignoreMerges) {
      const whole = this.lookup.get(bytes, 0, bytes.length);
      if (whole >= 0) return [whole];
    }
    const symbols: number[] = [];
    if (options.byteLevel) {
      for (const b of bytes) {
        // A byte-level vocabulary has all 256; without one, HF drops the byte (or emits unk).
        if (byteIds[b] >= 0) symbols.push(byteIds[b]);
        else if (options.unkTokenId !== null) symbols.push(options.unkTokenId);
      }
    } else {
      let unkOpen = false; // the last symbol is an unknown token that fuse_unk may extend
      for (let start = 0; start < bytes.length; ) {
        const end = start + utf8Length(bytes[start]);
        const id = this.lookup.get(bytes, start, Math.min(end, bytes.length));
        if (id >= 0) {
          symbols.push(id);
          unkOpen = false;
        } else if (options.byteFallback && hasAll(byteIds, bytes, start, end)) {
          for (let k = start; k < end; k++) symbols.push(byteIds[bytes[k]]);
          unkOpen = false;
        } else if (options.unkTokenId !== null) {
          if (!(unkOpen && options.fuseUnk)) symbols.push(options.unkTokenId);
          unkOpen = true;
        }
        start = end;
      }
    }
    return this.merger.merge(symbols);
  }
}

/** The length of the UTF-8 sequence a lead byte starts. */
function utf8Length(lead: number): number {
  return lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

function hasAll(byteIds: Int32Array, bytes: Uint8Array, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (byteIds[bytes[k]] < 0) return false;
  return true;
}

/**
 * Byte string -> token id, an open-addressing hash table over the vocabulary's own key bytes: one
 * Int32Array instead of a Map of 100k+ strings.
 */
class KeyLookup {
  private readonly slots: Int32Array; // -1: empty
  private readonly mask: number;

  constructor(
    private readonly keyBytes: Uint8Array,
    private readonly keyOffsets: Uint32Array,
  ) {
    const count = keyOffsets.length - 1;
    let capacity = 16;
    while (capacity < 2 * count) capacity *= 2;
    this.slots = new Int32Array(capacity).fill(-1);
    this.mask = capacity - 1;
    for (let id = 0; id < count; id++) {
      const start = keyOffsets[id];
      const end = keyOffsets[id + 1];
      if (end === start) continue; // no key: an added token or an unused id
      const slot = this.find(keyBytes, start, end);
      // The first id wins when a vocabulary lists a key twice.
      if (this.slots[slot] === -1) this.slots[slot] = id;
    }
  }

  get(bytes: Uint8Array, start: number, end: number): number {
    return this.slots[this.find(bytes, start, end)];
  }

  /** The slot holding the key, or the empty slot where it would go. */
  private find(bytes: Uint8Array, start: number, end: number): number {
    let h = 0x811c9dc5;
    for (let k = start; k < end; k++) h = Math.imul(h ^ bytes[k], 0x01000193);
    let i = (h ^ (h >>> 15)) & this.mask;
    for (let id = this.slots[i]; id !== -1; id = this.slots[i]) {
      if (this.equals(id, bytes, start, end)) return i;
      i = (i + 1) & this.mask;
    }
    return i;
  }

  private equals(id: number, bytes: Uint8Array, start: number, end: number): boolean {
    const from = this.keyOffsets[id];
    if (this.keyOffsets[id + 1] - from !== end - start) return false;
    for (let k = 0; k < end - start; k++) if (this.keyBytes[from + k] !== bytes[start + k]) return false;
    return true;
  }
}
