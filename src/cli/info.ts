import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultModelDir } from "../model/default-model.js";
import { UserError } from "../errors.js";
import { ggmlTypeName } from "../io/gguf.js";
import { metaString, readGGUF } from "../io/gguf-read.js";
import { tokenizerTablesFromFolder, tokenizerTablesFromGGUF } from "../io/gguf-tokenizer.js";
import { formatBytes } from "../io/hub/progress.js";
import { resolveHubModel } from "../io/hub/resolve.js";
import { classifyModelSource } from "../io/hub/source.js";
import type { GPT2Config } from "../model/config.js";
import { ggufConfig } from "../model/load-gguf.js";
import { readConfig } from "../model/load.js";
import { listCheckpointTensors } from "../model/load-safetensors.js";
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
  config: GPT2Config;
  parameters: number;
  dtypes: Map<string, number>; // type name -> tensor count
  tokenizer: string;
  files: { name: string; bytes: number }[];
}

/**
 * Describes a model without loading its weights: headers only (safetensors JSON headers, the
 * GGUF tensor table), so it is instant even for big checkpoints. Returns the printed text.
 */
export async function infoCommand(opts: InfoOptions): Promise<string> {
  const kind = classifyModelSource(opts.model);
  let d: Description;
  if (kind === "gguf") {
    d = describeGGUF(opts.model);
  } else {
    const dir = kind === "hub" ? await resolveHubModel(opts.model, { quiet: opts.quiet }) : opts.model;
    d = describeFolder(dir);
    if (kind === "hub") d.source = `${opts.model} (Hugging Face Hub, cached at ${dir})`;
  }
  return format(d);
}

function describeGGUF(file: string): Description {
  const g = readGGUF(file);
  const config = ggufConfig(g);
  const dtypes = new Map<string, number>();
  let parameters = 0;
  for (const t of g.tensors) {
    dtypes.set(ggmlTypeName(t.type), (dtypes.get(ggmlTypeName(t.type)) ?? 0) + 1);
    parameters += t.dims.reduce((a, b) => a * b, 1);
  }
  const tables = tokenizerTablesFromGGUF(g);
  return {
    source: file,
    format: `GGUF v${g.version}${metaString(g, "general.name") !== null ? ` ("${metaString(g, "general.name")}")` : ""}`,
    config,
    parameters,
    dtypes,
    tokenizer: `GPT-2 byte-level BPE (GGUF metadata, pre "${metaString(g, "tokenizer.ggml.pre") ?? "default"}"), ${tables.tokens.length} tokens, ${tables.merges.length} merges`,
    files: [{ name: path.basename(file), bytes: g.fileSize }],
  };
}

function describeFolder(dir: string): Description {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model folder ${dir} does not exist`);
  const config = readConfig(dir);
  const tensors = listCheckpointTensors(dir);
  const dtypes = new Map<string, number>();
  let parameters = 0;
  for (const [name, t] of tensors) {
    // Old checkpoints carry the causal mask as a buffer; it is not a parameter.
    if (/\.attn\.(masked_)?bias$/.test(name)) continue;
    dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
    parameters += t.shape.reduce((a, b) => a * b, 1);
  }
  const tables = tokenizerTablesFromFolder(dir, config.vocabSize);
  const tokenizerFile = fs.existsSync(path.join(dir, "tokenizer.json")) ? "tokenizer.json" : "vocab.json + merges.txt";
  const files = fs
    .readdirSync(dir)
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort()
    .map((name) => ({ name, bytes: fs.statSync(path.join(dir, name)).size }));
  return {
    source: dir,
    format: `Hugging Face folder (${tensors.size} safetensors tensors)`,
    config,
    parameters,
    dtypes,
    tokenizer: `GPT-2 byte-level BPE (${tokenizerFile}), ${tables.tokens.length} tokens, ${tables.merges.length} merges`,
    files,
  };
}

function format(d: Description): string {
  const c = d.config;
  const millions = d.parameters >= 1e6 ? `${(d.parameters / 1e6).toFixed(1)}M` : `${(d.parameters / 1e3).toFixed(1)}k`;
  const width = Math.max(...d.files.map((f) => f.name.length));
  const lines = [
    `model         ${d.source}`,
    `format        ${d.format}`,
    `architecture  gpt2: ${c.nLayer} layers, ${c.nHead} heads, embedding ${c.nEmbd}, MLP ${c.nInner}, ${c.tieWordEmbeddings ? "tied" : "untied"} head`,
    `parameters    ${millions} (${d.parameters.toLocaleString("en-US")})`,
    `dtypes        ${[...d.dtypes].map(([t, n]) => `${t} × ${n}`).join(", ")}`,
    `context       ${c.nPositions} tokens`,
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
