// Texts that exercise tokenizers: scripts, emoji, digits, whitespace runs, code, special-token
// look-alikes, and seeded random mixes of them.
import { mulberry32 } from "./helpers.js";

export const PIECES = [
  "the", "The", "hello", "world", "Hello world", "don't", "DON'T", "I'M", "WE'LL", "she'S", "they'Re", "'ve", "'d", "x'LL",
  "42", "3.14", "1234567", "00000000001", "1e-10", "x**2", "٣٤٥", "१२३", "½", "①②",
  "café", "naïve", "Zürich", "Ελληνικά", "Русский текст", "Привет, мир!", "שָׁלוֹם", "مرحبا بالعالم", "नमस्ते दुनिया", "हिन्दी",
  "日本語", "中文字符", "你好，世界。", "한국어", "テキスト", "ｆｕｌｌｗｉｄｔｈ", "ﬁ", "Å", "e\u0301", "n\u0303\u0323", "\u0300",
  "🤖", "🚀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "🧑🏿‍🤝‍🧑🏻", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𠀀",
  " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n ", "\n  \n", "\u00a0", "\u2009", "\u200b", "\u3000", "\ufeff", "\u0085",
  "!?", "...", "#", "@", "\\", "{}", "()", "<", ">", "|", "▁", "▁▁", "<0x0A>", "Ġ",
  "def f(x):\n    return x", "if (a && b) { c(); }", "https://example.com/a?b=c",
  "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
  "<think>", "</think>", "<tool_call>", "<|im_start", "|>",
];

export function randomText(next: () => number): string {
  const parts: string[] = [];
  const count = 1 + Math.floor(next() * 10);
  for (let i = 0; i < count; i++) {
    const r = next();
    if (r < 0.75) parts.push(PIECES[Math.floor(next() * PIECES.length)]);
    else if (r < 0.9) parts.push(String.fromCharCode(32 + Math.floor(next() * 95)));
    else parts.push(String.fromCodePoint(0xa0 + Math.floor(next() * 0x2f00)));
  }
  return parts.join("");
}

/** Fixed texts, every piece alone, then `random` seeded mixes. */
export function tokenizerCorpus(random = 400, seed = 2024): string[] {
  const corpus = [
    "", " ", "Hello", " Hello", "Hello world", "  leading spaces", "trailing spaces  ", "\n\nnewlines first", "tabs\tand\t\tmore",
    "The year 2024 had 366 days; 1234567890 digits.", "DON'T SHOUT, I'M HERE", "<s>Hello</s>", "<|begin_of_text|>Hi<|eot_id|>",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nHello", "a<|endoftext|>b", "<s> <s>  </s>",
    ...PIECES,
  ];
  const next = mulberry32(seed);
  for (let i = 0; i < random; i++) corpus.push(randomText(next));
  return corpus;
}
