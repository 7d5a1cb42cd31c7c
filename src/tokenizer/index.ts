/** GPT-2 byte-level BPE tokenizer: encode, decode, stream-decode, load from a HF model folder. */
export type { Tokenizer, StreamDecoder, SpecialToken, BpeTokenizerOptions } from "./types.js";
export { BpeTokenizer } from "./tokenizer.js";
export { loadGGUFTokenizer, loadTokenizer } from "./load.js";
