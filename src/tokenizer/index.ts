/** Tokenizers run from tokenizer.json (GPT-2, Llama 2/3, Qwen2/3) or GGUF (byte-level BPE, SentencePiece-style): encode, decode, stream-decode. */
export type { Tokenizer, StreamDecoder, SpecialToken, BpeTokenizerOptions, EncodeOptions, DecodeOptions } from "./types.js";
export { BpeTokenizer } from "./tokenizer.js";
export { SpmTokenizer } from "./spm.js";
export { loadGGUFTokenizer, loadTokenizer } from "./load.js";
