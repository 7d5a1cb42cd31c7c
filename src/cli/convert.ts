import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultModelDir } from "../model/default-model.js";
import { diskFolder } from "../io/disk.js";
import { UserError } from "../errors.js";
import { metaString } from "../io/gguf-read.js";
import { tokenizerTablesFromFolder } from "../tokenizer/gguf-from-folder.js";
import { IDS_ONLY_KEY, tokenizerTablesFromGGUF, type TokenizerTables } from "../tokenizer/gguf.js";
import { parseHubId } from "../io/hub/id.js";
import { formatBytes } from "../io/hub/progress.js";
import type { Backend } from "../kernels/backend.js";
import { createReferenceBackend } from "../kernels/reference.js";
import { writeGPT2GGUF, type GGUFExportSource } from "../model/families/gpt2/export-gguf.js";
import { GGUF_OUT_TYPES, type GGUFOutType } from "../model/layers/gguf-out.js";
import { gpt2Family } from "../model/families/gpt2/index.js";
import { parseGPT2Config } from "../model/families/gpt2/config.js";
import { ggufConfig, loadGGUFWeights } from "../model/families/gpt2/load-gguf.js";
import { loadSafetensorsWeights } from "../model/families/gpt2/load-safetensors.js";
import { parseLlamaConfig, type LlamaVariant } from "../model/families/llama/config.js";
import { writeLlamaGGUF, type LlamaGGUFExportSource } from "../model/families/llama/export-gguf.js";
import { LLAMA_STYLE_VARIANTS } from "../model/families/llama/index.js";
import { llamaConfigFromGGUF, loadLlamaGGUF } from "../model/families/llama/load-gguf.js";
import { loadLlamaSafetensors } from "../model/families/llama/load-safetensors.js";
import { hasTokenizerFiles, locateModel, type ModelLocation } from "../model/load.js";
import type { Command } from "./options.js";

export interface ConvertOptions {
  /** A model folder, a .gguf file or a Hub id. */
  readonly model: string;
  readonly to: "gguf";
  readonly dtype: GGUFOutType;
  readonly out: string;
  /** No download progress. */
  readonly quiet?: boolean;
}

export interface ConvertResult {
  readonly out: string;
  readonly bytes: number;
  readonly tensors: number;
}

export const convertHelp = `nanogpt-infer convert --model SRC --to gguf [--dtype f32|f16|q8_0|q4_0|q4_k|q6_k|q4_k_m|q5_k_m] OUT.gguf
  writes SRC (a model folder, a .gguf file or a Hub id org/name[@revision]) as a GGUF file
  llama.cpp loads; --dtype is the type of the weight matrices (default f16; norms, biases
  and position embeddings stay f32). q4_k_m and q5_k_m mix types per tensor as
  llama-quantize's Q4_K_M and Q5_K_M do (Q6_K for the head and for attn_v and ffn_down on some
  layers). As llama.cpp's quantizer, rows not whole 256-value blocks fall back: q4_k to Q5_0,
  Q5_K to Q5_1, q6_k to Q8_0 (and rows not whole 32s to F16)`;

/** Converts a model to GGUF; the weights pass through f32 once, in memory. */
export async function convertCommand(opts: ConvertOptions): Promise<ConvertResult> {
  if (opts.to !== "gguf") throw new UserError(`--to must be gguf, got ${JSON.stringify(opts.to)}`);
  if (!GGUF_OUT_TYPES.includes(opts.dtype)) throw new UserError(`--dtype must be one of ${GGUF_OUT_TYPES.join(", ")}, got ${JSON.stringify(opts.dtype)}`);
  const outDir = path.dirname(path.resolve(opts.out));
  if (!fs.existsSync(outDir)) throw new UserError(`cannot write ${opts.out}: folder ${outDir} does not exist`);

  const backend = createReferenceBackend();
  try {
    const src = await loadSource(opts.model, opts.quiet ?? false, backend);
    const { tensors } = src.kind === "llama" ? writeLlamaGGUF(opts.out, src.source, opts.dtype) : writeGPT2GGUF(opts.out, src.source, opts.dtype);
    return { out: opts.out, bytes: fs.statSync(opts.out).size, tensors };
  } finally {
    backend.close();
  }
}

type ExportSource = { kind: "gpt2"; source: GGUFExportSource } | { kind: "llama"; source: LlamaGGUFExportSource };

/** GPT-2 and the Llama-style families can be written; other families say so. */
async function loadSource(model: string, quiet: boolean, backend: Backend): Promise<ExportSource> {
  const location = await locateModel(model, { quiet, gguf: { arrays: "read" } });
  if (location.kind === "llama2c") throw new UserError(`convert --to gguf reads Hugging Face folders and GGUF files; ${model} is a llama2.c checkpoint`);
  const llama = LLAMA_STYLE_VARIANTS.get(location.family);
  if (llama !== undefined) return { kind: "llama", source: loadLlamaSource(model, location, llama, backend) };
  if (location.family !== gpt2Family) throw new UserError(`convert --to gguf writes gpt2, llama, qwen2 and qwen3 models; ${model} is a ${location.family.name} model`);
  if (location.kind === "gguf") {
    const g = location.gguf;
    const config = ggufConfig(g);
    const name = metaString(g, "general.name") ?? path.basename(model, ".gguf");
    return { kind: "gpt2", source: { name, config, weights: loadGGUFWeights(g, config, backend, "f32"), tokenizer: tokenizerTablesFromGGUF(g) } };
  }
  const dir = location.dir;
  const config = parseGPT2Config(location.config, path.join(dir, "config.json"));
  return { kind: "gpt2", source: { name: sourceName(model, dir), config, weights: loadSafetensorsWeights(diskFolder(dir), config, backend, "f32"), tokenizer: tokenizerTablesFromFolder(dir, config.vocabSize) } };
}

function sourceName(model: string, dir: string): string {
  const hub = path.resolve(dir) !== path.resolve(model) ? parseHubId(model) : null;
  return hub !== null ? hub.repo.split("/")[1] : path.basename(path.resolve(dir));
}

/**
 * A Llama-family model with its tokenizer: a GGUF file's carried over, a folder's written as
 * llama.cpp's converter would (tokenizerTablesFromFolder); without one, placeholder tokens.
 */
function loadLlamaSource(model: string, location: ModelLocation, variant: LlamaVariant, backend: Backend): LlamaGGUFExportSource {
  const arch = variant.name;
  if (location.kind === "gguf") {
    const g = location.gguf;
    const vocabulary = metaString(g, "tokenizer.ggml.model");
    const placeholders = metaString(g, IDS_ONLY_KEY) === "ids-only" || vocabulary === null || vocabulary === "no_vocab" || vocabulary === "none";
    const config = llamaConfigFromGGUF(g, variant);
    const name = metaString(g, "general.name") ?? path.basename(model, ".gguf");
    const tokenizer = placeholders ? null : checkVocabSize(tokenizerTablesFromGGUF(g), config.vocabSize, model);
    return { name, arch, config, weights: loadLlamaGGUF(g, config, backend, "f32"), tokenizer };
  }
  if (location.kind !== "folder") throw new UserError(`convert --to gguf reads Hugging Face folders and GGUF files; ${model} is a llama2.c checkpoint`);
  const dir = location.dir;
  const config = parseLlamaConfig(location.config, path.join(dir, "config.json"), variant);
  const tokenizer = hasTokenizerFiles(dir) ? checkVocabSize(tokenizerTablesFromFolder(dir, config.vocabSize), config.vocabSize, model) : null;
  return { name: sourceName(model, dir), arch, config, weights: loadLlamaSafetensors(diskFolder(dir), config, backend, "f32"), tokenizer };
}

/** llama.cpp sizes the embedding by the token list, so the two must agree (checked before the weights are read). */
function checkVocabSize(tokenizer: TokenizerTables, vocabSize: number, model: string): TokenizerTables {
  if (tokenizer.tokens.length !== vocabSize) throw new UserError(`${model}: the tokenizer has ${tokenizer.tokens.length} tokens but the model's vocab_size is ${vocabSize}`);
  return tokenizer;
}

/** `nanogpt-infer convert ...` from raw arguments; prints one summary line to stderr. */
export async function runConvert(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: "string" }, to: { type: "string" }, dtype: { type: "string" }, out: { type: "string" }, quiet: { type: "boolean" } },
  });
  if (values.to !== undefined && values.to !== "gguf") throw new UserError(`--to must be gguf, got ${JSON.stringify(values.to)}`);
  const dtype = GGUF_OUT_TYPES.find((t) => t === (values.dtype ?? "f16"));
  if (dtype === undefined) throw new UserError(`--dtype must be one of ${GGUF_OUT_TYPES.join(", ")}, got ${JSON.stringify(values.dtype)}`);
  const out = values.out ?? positionals[0];
  if (out === undefined || positionals.length > (values.out === undefined ? 1 : 0)) throw new UserError("convert needs exactly one output file (OUT.gguf)");
  const result = await convertCommand({ model: values.model ?? defaultModelDir(), to: "gguf", dtype, out, quiet: values.quiet });
  if (!values.quiet) process.stderr.write(`wrote ${result.out}: ${result.tensors} tensors, ${formatBytes(result.bytes)} (${dtype})\n`);
}

export const command: Command = { run: runConvert, help: convertHelp };
