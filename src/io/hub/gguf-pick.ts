import { UserError } from "../../errors.js";
import { parseHubId, type HubId } from "./id.js";

/**
 * GGUF files on the Hub, named as llama.cpp's -hf does: "org/name:QUANT" (the repo's one GGUF
 * whose name carries that quantization, e.g. org/name:Q4_K_M; with an optional @revision before
 * the colon) or "org/name/path/file.gguf" (that file). Only the chosen file is downloaded.
 */
export type HubGGUFId = HubId & ({ readonly quant: string; readonly file?: undefined } | { readonly file: string; readonly quant?: undefined });

const QUANT = /^[A-Za-z0-9_]+$/;
const FILE_PART = /^[A-Za-z0-9._-]+$/;

export function parseHubGGUFId(source: string): HubGGUFId | null {
  const colon = source.lastIndexOf(":");
  if (colon > 0) {
    const id = parseHubId(source.slice(0, colon));
    const quant = source.slice(colon + 1);
    return id !== null && QUANT.test(quant) ? { ...id, quant } : null;
  }
  const parts = source.split("/");
  if (parts.length < 3 || !source.toLowerCase().endsWith(".gguf")) return null;
  const id = parseHubId(parts.slice(0, 2).join("/"));
  const file = parts.slice(2);
  if (id === null || id.revision !== "main" || !file.every((p) => FILE_PART.test(p) && p !== "." && p !== "..")) return null;
  return { ...id, file: file.join("/") };
}

export function formatHubGGUFId(id: HubGGUFId): string {
  const repo = id.revision === "main" ? id.repo : `${id.repo}@${id.revision}`;
  return id.quant !== undefined ? `${repo}:${id.quant}` : `${repo}/${id.file}`;
}

/** A shard of a split GGUF (llama.cpp's gguf-split names them NAME-00001-of-00003.gguf). */
const SPLIT = /-\d{5}-of-\d{5}\.gguf$/i;

/** Does a file name carry this quantization as a whole word (Q4_K does not match Q4_K_M)? */
function hasQuant(file: string, quant: string): boolean {
  const base = file.split("/").pop() ?? file;
  return new RegExp(`(^|[-._])${quant}([-.]|$)`, "i").test(base.slice(0, -".gguf".length));
}

/** The GGUF models of a repository listing (llama.cpp's multimodal projectors left out). */
export function ggufFiles(files: Iterable<string>): string[] {
  return [...files].filter((f) => f.toLowerCase().endsWith(".gguf") && !/mmproj/i.test(f)).sort();
}

/**
 * The one file `id` names among a repository's files, or a one-line error listing the GGUF
 * files there when none or several match.
 */
export function pickGGUF(id: HubGGUFId, files: readonly string[]): string {
  const name = formatHubGGUFId(id);
  const models = ggufFiles(files);
  const listing = models.length === 0 ? "it has no .gguf files" : `its .gguf files: ${models.join(", ")}`;
  let chosen: string;
  if (id.file !== undefined) {
    if (!files.includes(id.file)) throw new UserError(`${name}: ${id.repo} has no file ${id.file} (${listing})`);
    chosen = id.file;
  } else {
    const quant = id.quant;
    const matches = models.filter((f) => hasQuant(f, quant));
    if (matches.length === 0) throw new UserError(`${name}: no .gguf file in ${id.repo} is quantized ${quant} (${listing})`);
    const whole = matches.filter((f) => !SPLIT.test(f));
    if (whole.length > 1) throw new UserError(`${name}: several .gguf files in ${id.repo} match ${quant}: ${whole.join(", ")} (name one with ${id.repo}/FILE.gguf)`);
    chosen = whole.length === 1 ? whole[0] : matches[0];
  }
  if (SPLIT.test(chosen)) throw new UserError(`${name}: ${chosen} is one part of a split GGUF, which this engine does not read (merge it with llama.cpp's llama-gguf-split --merge)`);
  return chosen;
}
