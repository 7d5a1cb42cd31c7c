import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultModelDir } from "../model/default-model.js";
import { diskFolder } from "../io/disk.js";
import { UserError } from "../errors.js";
import { ggmlTypeName } from "../io/gguf.js";
import { metaString, type GGUFFile } from "../io/gguf-read.js";
import { llama2cParameters, type Llama2cHeader } from "../io/llama2c.js";
import { NotWritableToGGUF, tokenizerTablesFromFolder } from "../tokenizer/gguf-from-folder.js";
import { tokenizerTablesFromGGUF } from "../tokenizer/gguf.js";
import { formatBytes } from "../io/hub/progress.js";
import { listCheckpointTensors } from "../model/checkpoint.js";
import { storedKind } from "../model/layers/gguf-tensors.js";
import { ggufIdsOnlyReason, hasTokenizerFiles, locateModel, modelSpec } from "../model/load.js";
import type { ModelSpec } from "../model/model.js";
import type { Command } from "./options.js";

export interface InfoOptions {
  /** A model folder, a .gguf file or a Hub id (downloaded first). */
  readonly model: string;
  readonly quiet?: boolean;
}

export const infoHelp = `nanogpt-infer info --model X
  prints architecture, parameter count, dtypes, context length, tokenizer and files of a
  model folder, a .gguf file or a Hub id org/name[@revision]`;

interface Description {
  source: string;
  format: string;
  spec: ModelSpec;
  parameters: number;
  dtypes: Map<string, number>; // type name -> tensor count
  stored: string; // how the matrices are kept in memory without --dtype
  tokenizer: string;
  files: { name: string; bytes: number }[];
}

/**
 * Describes a model without loading its weights: headers only (safetensors JSON headers, the
 * GGUF tensor table), so it is instant even for big checkpoints. Returns the printed text.
 */
export async function infoCommand(opts: InfoOptions): Promise<string> {
  const location = await locateModel(opts.model, { quiet: opts.quiet, gguf: { arrays: "read" } });
  const spec = modelSpec(location);
  if (location.kind === "gguf") return format(describeGGUF(location.file, location.gguf, spec));
  if (location.kind === "llama2c") return format(describeLlama2c(location.file, location.header, spec));
  const d = describeFolder(location.dir, spec);
  if (path.resolve(location.dir) !== path.resolve(opts.model)) d.source = `${opts.model} (Hugging Face Hub, cached at ${location.dir})`;
  return format(d);
}

function describeGGUF(file: string, g: GGUFFile, spec: ModelSpec): Description {
  const dtypes = new Map<string, number>();
  const storedKinds = new Map<string, string>(); // matrices' type name -> storage
  let parameters = 0;
  for (const t of g.tensors) {
    dtypes.set(ggmlTypeName(t.type), (dtypes.get(ggmlTypeName(t.type)) ?? 0) + 1);
    if (t.dims.length === 2) storedKinds.set(ggmlTypeName(t.type), storedKind(t.type));
    parameters += t.dims.reduce((a, b) => a * b, 1);
  }
  const idsOnly = ggufIdsOnlyReason(g, spec);
  const tables = idsOnly === null ? tokenizerTablesFromGGUF(g) : null;
  return {
    source: file,
    format: `GGUF v${g.version}${metaString(g, "general.name") !== null ? ` ("${metaString(g, "general.name")}")` : ""}`,
    spec,
    parameters,
    dtypes,
    stored: `${[...storedKinds].map(([t, k]) => `${t} → ${k}`).join(", ")} (stacked q/k/v and gate/up: the widest of their parts)`,
    tokenizer:
      tables === null
        ? `none: ${idsOnly} (prompts are token ids)`
        : tables.model === "llama"
          ? `SentencePiece-style (GGUF metadata, llama), ${tables.tokens.length} tokens`
          : `byte-level BPE (GGUF metadata, pre "${metaString(g, "tokenizer.ggml.pre") ?? "default"}"), ${tables.tokens.length} tokens, ${tables.merges.length} merges`,
    files: [{ name: path.basename(file), bytes: g.fileSize }],
  };
}

function describeLlama2c(file: string, h: Llama2cHeader, spec: ModelSpec): Description {
  const { parameters, tensors } = llama2cParameters(h);
  return {
    source: file,
    format: `llama2.c checkpoint (version 0, ${h.sharedClassifier ? "classifier shared with the embedding" : "separate classifier"})`,
    spec,
    parameters,
    dtypes: new Map([["F32", tensors]]),
    stored: "f32",
    tokenizer: "a separate llama2.c tokenizer.bin (give it with --tokenizer)",
    files: [{ name: path.basename(file), bytes: fs.statSync(file).size }],
  };
}

function describeFolder(dir: string, spec: ModelSpec): Description {
  const tensors = listCheckpointTensors(diskFolder(dir));
  const dtypes = new Map<string, number>();
  let parameters = 0;
  for (const [name, t] of tensors) {
    // Old checkpoints carry the causal mask as a buffer; it is not a parameter.
    if (/\.attn\.(masked_)?bias$/.test(name)) continue;
    dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    parameters += t.shape.reduce((a, b) => a * b, 1);
  }
  let tokenizer = "none (prompts are token ids)";
  if (hasTokenizerFiles(dir)) {
    const tokenizerFile = fs.existsSync(path.join(dir, "tokenizer.json")) ? "tokenizer.json" : "vocab.json + merges.txt";
    try {
      const tables = tokenizerTablesFromFolder(dir, spec.shape.vocabSize);
      tokenizer = tables.model === "llama" ? `SentencePiece-style BPE (${tokenizerFile}), ${tables.tokens.length} tokens` : `byte-level BPE (${tokenizerFile}), ${tables.tokens.length} tokens, ${tables.merges.length} merges`;
    } catch (e) {
      // The GGUF tables are what info counts; a tokenizer GGUF cannot express is still described.
      if (!(e instanceof NotWritableToGGUF)) throw e;
      tokenizer = `${tokenizerFile} (not writable to GGUF: ${e.message})`;
    }
  }
  const files = fs
    .readdirSync(dir)
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort()
    .map((name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size }));
  return {
    source: dir,
    format: `Hugging Face folder (${tensors.size} safetensors tensors)`,
    spec,
    parameters,
    dtypes,
    stored: "f32",
    tokenizer,
    files,
  };
}

function format(d: Description): string {
  const c = d.spec.shape;
  const millions = d.parameters >= 1e6 ? `${(d.parameters / 1e6).toFixed(1)}M` : `${(d.parameters / 1e3).toFixed(1)}k`;
  const width = Math.max(...d.files.map((f) => f.name.length));
  const lines = [
    `model         ${d.source}`,
    `format        ${d.format}`,
    `architecture  ${d.spec.summary}`,
    `parameters    ${millions} (${d.parameters.toLocaleString("en-US")})`,
    `dtypes        ${[...d.dtypes].map(([t, n]) => `${t} × ${n}`).join(", ")}`,
    `stored as     ${d.stored}`,
    `attention     ${c.nHead} heads, ${c.nKVHead} key/value heads${c.nKVHead < c.nHead ? ` (grouped-query, ${c.nHead / c.nKVHead} queries per key/value head)` : ""}, head_dim ${c.headDim}`,
    `context       ${c.contextLength} tokens`,
    `vocabulary    ${c.vocabSize}`,
    `tokenizer     ${d.tokenizer}`,
    `files`,
    ...d.files.map((f) => `  ${f.name.padEnd(width)}  ${formatBytes(f.bytes).padStart(9)}`),
  ];
  return lines.join("\n") + "\n";
}

/** `nanogpt-infer info --model X` from raw arguments. */
export async function runInfo(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { model: { type: "string" }, quiet: { type: "boolean" } } });
  const model = values.model ?? positionals[0] ?? defaultModelDir();
  process.stdout.write(await infoCommand({ model, quiet: values.quiet }));
}

export const command: Command = { run: runInfo, help: infoHelp };
