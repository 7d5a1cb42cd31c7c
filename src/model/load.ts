import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { diskFolder } from "../io/disk.js";
import type { Folder } from "../io/folder.js";
import { readGGUF, type GGUFFile } from "../io/gguf-read.js";
import { readLlama2cHeader, type Llama2cHeader } from "../io/llama2c.js";
import { resolveHubGGUF, resolveHubModel, type ResolveHubOptions } from "../io/hub/resolve.js";
import { classifyModelSource } from "../io/hub/source.js";
import { checkRegularFile } from "../io/regular-file.js";
import { unreadableGGUFTokenizer } from "../tokenizer/gguf.js";
import { loadGGUFTokenizer, loadTokenizer, type Tokenizer } from "../tokenizer/index.js";
import { IdsOnlyTokenizer } from "../tokenizer/ids-only.js";
import { loadLlama2cTokenizer } from "../tokenizer/llama2c.js";
import { familyOfConfig, familyOfGGUF } from "./families/index.js";
import { llamaFamily } from "./families/llama/index.js";
import { llama2cSpec } from "./families/llama/load-llama2c.js";
import type { ModelFamily } from "./family.js";
import type { WeightDType } from "./matrix.js";
import type { Model, ModelSpec } from "./model.js";
import type { Backend } from "../kernels/backend.js";

/**
 * Where a checkpoint is: a Hugging Face folder (config.json, tokenizer files, model.safetensors
 * or a sharded index) or a GGUF file whose header has been read. A Hub id becomes the folder of
 * its cached snapshot.
 */
export type ModelLocation =
  | { readonly kind: "folder"; readonly dir: string; readonly folder: Folder; readonly family: ModelFamily; readonly config: Readonly<Record<string, unknown>> }
  | { readonly kind: "gguf"; readonly file: string; readonly family: ModelFamily; readonly gguf: GGUFFile }
  | { readonly kind: "llama2c"; readonly file: string; readonly family: ModelFamily; readonly header: Llama2cHeader };

/**
 * The one dispatch on what `--model` names: an existing folder, a .gguf file, or a Hub id
 * "org/name[@revision]" (downloaded into the HF cache first). Reads the config (or GGUF header)
 * and picks the family.
 */
export async function locateModel(source: string, options: { quiet?: boolean; gguf?: { arrays: "read" | "skip" } } = {}): Promise<ModelLocation> {
  switch (classifyModelSource(source)) {
    case "gguf":
      return ggufLocation(source, options);
    case "hub-gguf":
      return ggufLocation(await fromHub(source, "file", () => resolveHubGGUF(source, { quiet: options.quiet })), options);
    case "llama2c":
      return { kind: "llama2c", file: source, family: llamaFamily, header: readLlama2cHeader(source) };
    case "hub":
      return folderLocation(await fromHub(source, "folder", () => resolveHubModel(source, { quiet: options.quiet })));
    case "folder":
      return folderLocation(source);
  }
}

/** A Hub download; a mistyped relative path looks like a Hub id too, so its errors say there is no such path. */
async function fromHub(source: string, local: "file" | "folder", resolve: () => Promise<string>): Promise<string> {
  try {
    return await resolve();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${e.message} (and there is no local ${local} ${source})`);
    throw e;
  }
}

function ggufLocation(file: string, options: { gguf?: { arrays: "read" | "skip" } }): ModelLocation {
  const gguf = readGGUF(file, { arrays: options.gguf?.arrays ?? "skip" });
  return { kind: "gguf", file, family: familyOfGGUF(gguf), gguf };
}

function folderLocation(dir: string): ModelLocation {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`model folder ${dir} does not exist`);
  const config = readConfigJson(dir);
  return { kind: "folder", dir, folder: diskFolder(dir), family: familyOfConfig(config, path.join(dir, "config.json")), config };
}

/** config.json of a model folder as an object. */
export function readConfigJson(dir: string): Readonly<Record<string, unknown>> {
  const file = path.join(dir, "config.json");
  checkRegularFile(file);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new UserError(`${file}: missing (is ${dir} a model folder?)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: invalid JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new UserError(`${file}: not a JSON object`);
  return json as Record<string, unknown>;
}

/** The family's reading of the checkpoint's config; the weights stay on disk. */
export function modelSpec(location: ModelLocation): ModelSpec {
  switch (location.kind) {
    case "gguf":
      return location.family.fromGGUF(location.gguf);
    case "llama2c":
      return llama2cSpec(location.header);
    case "folder":
      return location.family.fromFolder(location.folder, location.config, path.join(location.dir, "config.json"));
  }
}

/** True when a folder has tokenizer files (a folder may hold a checkpoint alone). */
export function hasTokenizerFiles(dir: string): boolean {
  return fs.existsSync(path.join(dir, "tokenizer.json")) || (fs.existsSync(path.join(dir, "vocab.json")) && fs.existsSync(path.join(dir, "merges.txt")));
}

/**
 * Why a GGUF file's tokenizer is replaced by token ids, or null when it is read. Llama-family
 * files may carry vocabularies this engine cannot read (or placeholders); they still load, with
 * prompts as ids. A GPT-2 file always carries GPT-2's tokenizer, so another one there is a
 * broken file, reported by loadGGUFTokenizer.
 */
export function ggufIdsOnlyReason(g: GGUFFile, spec: ModelSpec): string | null {
  return spec.family === "gpt2" ? null : unreadableGGUFTokenizer(g);
}

/** A model whose config and tokenizer are read and whose weights are still on disk. */
export interface OpenedModel {
  readonly location: ModelLocation;
  readonly spec: ModelSpec;
  readonly tokenizer: Tokenizer;
  /** Reads the weights into the backend's memory, converting layouts (and quantizing for q8). */
  loadWeights(backend: Backend, dtype: WeightDType | null): Model;
}

/** Everything a loaded checkpoint provides. */
export interface LoadedModel {
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  /** The end-of-sequence ids the checkpoint's configs declare (ModelSpec.eosTokenIds). */
  readonly eosTokenIds: readonly number[];
}

/**
 * Opens a model (see locateModel). Everything but the weights is read here, so a bad config or
 * tokenizer fails before a backend exists, and the tokenizer's short-lived loader is gone before
 * the weights arrive. A folder without tokenizer files still opens: prompts are then token ids.
 */
export async function openModel(source: string, options: { quiet?: boolean; tokenizer?: string } = {}): Promise<OpenedModel> {
  const location = await locateModel(source, options);
  const spec = modelSpec(location);
  const where = location.kind === "folder" ? location.dir : location.file;
  if (options.tokenizer !== undefined && location.kind !== "llama2c") {
    throw new UserError(`--tokenizer reads a llama2.c tokenizer.bin for a llama2.c .bin model; ${source} has its own tokenizer`);
  }
  const tokenizer = await openTokenizer(location, spec, where, options.tokenizer);
  return { location, spec, tokenizer, loadWeights: (backend, dtype) => spec.loadWeights(backend, dtype) };
}

/**
 * The tokenizer a location carries: a GGUF file's metadata, a folder's files, or for llama2.c the
 * separate tokenizer.bin. Without one (or with a vocabulary this engine cannot read yet, named in
 * `info`), prompts and output are token ids.
 */
async function openTokenizer(location: ModelLocation, spec: ModelSpec, where: string, llama2cTokenizer: string | undefined): Promise<Tokenizer> {
  const idsOnly = (why: string | null) => new IdsOnlyTokenizer(spec.shape.vocabSize, null, spec.eosTokenIds[0] ?? null, why === null ? where : `${where} (${why})`);
  if (location.kind === "llama2c") {
    if (llama2cTokenizer === undefined) return idsOnly(null);
    const tokenizer = loadLlama2cTokenizer(llama2cTokenizer);
    if (tokenizer.vocabSize !== spec.shape.vocabSize) throw new UserError(`${llama2cTokenizer}: has ${tokenizer.vocabSize} tokens but ${location.file} has vocab_size ${spec.shape.vocabSize}`);
    return tokenizer;
  }
  let tokenizer: Tokenizer;
  if (location.kind === "gguf") {
    const unreadable = ggufIdsOnlyReason(location.gguf, spec);
    tokenizer = unreadable === null ? await loadGGUFTokenizer(location.file) : idsOnly(unreadable);
  } else {
    tokenizer = hasTokenizerFiles(location.dir) ? await loadTokenizer(location.dir) : idsOnly(null);
  }
  if (tokenizer.vocabSize > spec.shape.vocabSize) {
    throw new UserError(
      location.kind === "gguf"
        ? `${location.file}: token_embd.weight has ${spec.shape.vocabSize} rows but the tokenizer has ${tokenizer.vocabSize} tokens`
        : `${path.join(location.dir, "config.json")}: vocab_size ${spec.shape.vocabSize} is smaller than the tokenizer's ${tokenizer.vocabSize} tokens`,
    );
  }
  return tokenizer;
}

/** openModel, then the weights into `backend`. */
export async function loadModel(source: string, backend: Backend, dtype: WeightDType | null, options: { quiet?: boolean; tokenizer?: string } = {}): Promise<LoadedModel> {
  const opened = await openModel(source, options);
  return { model: opened.loadWeights(backend, dtype), tokenizer: opened.tokenizer, eosTokenIds: opened.spec.eosTokenIds };
}

/**
 * Only the tokenizer of any model source (for `tokenize`): a GGUF file's header, a folder's
 * tokenizer files, or a Hub model's (downloaded like the whole model, so it is cached for later).
 */
export async function loadSourceTokenizer(source: string, options: ResolveHubOptions & { tokenizer?: string } = {}): Promise<Tokenizer> {
  const kind = classifyModelSource(source);
  if (options.tokenizer !== undefined) {
    if (kind !== "llama2c") throw new UserError(`--tokenizer reads a llama2.c tokenizer.bin for a llama2.c .bin model; ${source} has its own tokenizer`);
    return loadLlama2cTokenizer(options.tokenizer);
  }
  switch (kind) {
    case "gguf":
      return loadGGUFTokenizer(source);
    case "llama2c":
      throw new UserError(`${source} is a llama2.c checkpoint, whose tokenizer is a separate file: give it with --tokenizer tokenizer.bin`);
    case "hub":
      return loadTokenizer(await resolveHubModel(source, options));
    case "hub-gguf":
      return loadGGUFTokenizer(await resolveHubGGUF(source, options));
    case "folder":
      return loadTokenizer(source);
  }
}
