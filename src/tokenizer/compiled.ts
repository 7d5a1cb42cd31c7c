import { transferables, type CompiledTokenizer } from "./compile.js";
import { SpmTokenizer, type SpmVocabulary } from "./spm.js";
import { BpeTokenizer } from "./tokenizer.js";
import type { Tokenizer } from "./types.js";

/**
 * A tokenizer as plain data, ready to run: BPE tables (tokenizer.json, vocab.json + merges.txt,
 * a "gpt2" GGUF) or a SentencePiece-style vocabulary (a "llama" GGUF). What the loader's worker
 * thread sends back.
 */
export type AnyCompiledTokenizer = { readonly kind: "bpe"; readonly tables: CompiledTokenizer } | { readonly kind: "spm"; readonly vocabulary: SpmVocabulary };

export function tokenizerOf(c: AnyCompiledTokenizer, source: string): Tokenizer {
  return c.kind === "bpe" ? new BpeTokenizer(c.tables) : new SpmTokenizer(c.vocabulary, source);
}

/** The buffers postMessage can move rather than copy. */
export function transferablesOf(c: AnyCompiledTokenizer): ArrayBuffer[] {
  return c.kind === "bpe" ? transferables(c.tables) : [c.vocabulary.scores.buffer, c.vocabulary.tokenTypes.buffer];
}
