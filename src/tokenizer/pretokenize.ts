/**
 * Pre-tokenization: GPT-2 never merges across these pieces, so "dog." can become "dog" + "."
 * but never "g.". The pattern is GPT-2's, as used by HF tokenizers (Oniguruma), with one
 * adjustment: JavaScript's \s also matches U+FEFF and misses U+0085, while Oniguruma's Unicode \s
 * is exactly the characters below, so it is spelled out to split identically.
 */
const WS = "\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

const PRETOKEN_RE = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/** Splits text into the words that BPE encodes independently; every character lands in one. */
export function pretokenize(text: string): string[] {
  return text.match(PRETOKEN_RE) ?? [];
}
