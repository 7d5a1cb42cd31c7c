import { UserError } from "../errors.js";
import { memorySource, type ByteSource } from "../io/byte-source.js";
import type { Progress } from "./protocol.js";

/** Where a model is: a folder of Hugging Face files or one GGUF file, by URL. */
export type ModelLocation = { readonly kind: "folder"; readonly url: string } | { readonly kind: "gguf"; readonly url: string };

const HUB = "https://huggingface.co";
const CACHE = "nanogpt-infer-models";
const HUB_ID = /^[\w.-]+\/[\w.-]+(@[\w./-]+)?$/;

/**
 * What a model source names: an absolute or page-relative URL ending in .gguf (one file) or
 * in "/" (a folder holding config.json), or a Hub id "org/name[@revision]" (its files' resolve
 * URLs, which the Hub serves with CORS).
 */
export function locateModel(source: string, base: string): ModelLocation {
  const s = source.trim();
  if (s === "") throw new UserError("no model given");
  if (/\.gguf(\?.*)?$/i.test(s)) return { kind: "gguf", url: new URL(s, base).href };
  if (!/^(https?:|\/|\.)/.test(s) && HUB_ID.test(s)) {
    const [id, revision] = s.split("@");
    return { kind: "folder", url: `${HUB}/${id}/resolve/${encodeURIComponent(revision ?? "main")}/` };
  }
  const url = new URL(s, base);
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return { kind: "folder", url: url.href };
}

/** The files of a model, by name, and how many bytes were downloaded to get them (0: all were cached). */
export interface ModelFiles {
  readonly files: Map<string, ByteSource>;
  readonly downloadedBytes: number;
  /** Why some files could not be kept in the cache (over the storage quota, say), or null. */
  readonly notCached: string | null;
}

/**
 * Which files of a folder to fetch: config.json, the weights (model.safetensors, or the index
 * and its shards), the tokenizer (tokenizer.json, or vocab.json and merges.txt), its config and
 * chat template, and generation_config.json (more end-of-sequence ids), as Node's loader reads them.
 * A folder URL cannot be listed, so missing optional files are found by asking; the answer is
 * kept in the cache as a manifest, so a reload asks the network nothing.
 */
async function folderFileNames(url: string, fetchFile: (name: string, optional: boolean) => Promise<Uint8Array | null>): Promise<string[]> {
  const names = ["config.json"];
  const index = await fetchFile("model.safetensors.index.json", true);
  if (index === null) names.push("model.safetensors");
  else {
    names.push("model.safetensors.index.json");
    const map = (JSON.parse(new TextDecoder().decode(index)) as { weight_map?: Record<string, string> }).weight_map;
    if (typeof map !== "object" || map === null) throw new UserError(`${url}model.safetensors.index.json: missing weight_map`);
    names.push(...new Set(Object.values(map).map(String)));
  }
  if ((await fetchFile("tokenizer.json", true)) !== null) names.push("tokenizer.json");
  else names.push("vocab.json", "merges.txt");
  for (const optional of ["tokenizer_config.json", "chat_template.jinja", "generation_config.json"]) {
    if ((await fetchFile(optional, true)) !== null) names.push(optional);
  }
  return names;
}

/**
 * Looks at a model's files before its weights are downloaded: every file by name, complete,
 * except weights still to download, of which only the headers (safetensors' JSON, GGUF's
 * metadata and tensor table) can be read. Throws to stop the download (the model cannot fit).
 */
export type Precheck = (files: ReadonlyMap<string, ByteSource>) => void;

/** A file's first bytes, standing for the whole file: reading past them throws PrefixTooShort. */
class PrefixTooShort extends Error {}

function prefixSource(name: string, prefix: Uint8Array, size: number): ByteSource {
  return {
    name,
    size,
    read(into, position) {
      const n = Math.max(0, Math.min(into.length, size - position));
      if (position + n > prefix.length) throw new PrefixTooShort(`${name}: past the ${prefix.length} bytes fetched`);
      into.set(prefix.subarray(position, position + n));
      return n;
    },
    close() {},
  };
}

/** The first `bytes` of a file and its size, by a Range request; null when the server ignores ranges. */
async function fetchPrefix(url: string, bytes: number): Promise<{ prefix: Uint8Array; size: number } | null> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { range: `bytes=0-${bytes - 1}` }, signal: controller.signal });
  const total = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "")?.[1];
  if (response.status !== 206 || total === undefined) {
    controller.abort(); // a 200 would be the whole file: not now
    return null;
  }
  return { prefix: new Uint8Array(await response.arrayBuffer()), size: Number(total) };
}

/** A weight file's header as a prefix source (safetensors: its length, then itself; GGUF: grown until `check` reads no further), or null. */
async function weightHeader(url: string, name: string, check: (source: ByteSource) => void): Promise<void> {
  if (name.endsWith(".safetensors")) {
    const head = await fetchPrefix(url, 8);
    if (head === null || head.prefix.length < 8) return;
    const length = Number(new DataView(head.prefix.buffer, head.prefix.byteOffset, 8).getBigUint64(0, true));
    const whole = length + 8 <= head.size ? await fetchPrefix(url, 8 + length) : head;
    if (whole !== null) check(prefixSource(url, whole.prefix, whole.size));
    return;
  }
  for (let bytes = 1 << 20; bytes <= 1 << 26; bytes *= 4) {
    const got = await fetchPrefix(url, bytes);
    if (got === null) return;
    try {
      check(prefixSource(url, got.prefix, got.size));
      return;
    } catch (e) {
      if (!(e instanceof PrefixTooShort) || got.prefix.length >= got.size) throw e;
    }
  }
}

/**
 * Downloads a model's files (or reads them from the Cache Storage API, where every download is
 * kept, so a reload works offline), reporting progress per file. Weights come last, after
 * `precheck` has seen every other file and the weights' headers (fetched by Range requests where
 * the server allows them), so a model that cannot run is refused before its weights download.
 */
export async function fetchModelFiles(location: ModelLocation, onProgress: (p: Progress) => void, precheck: Precheck): Promise<ModelFiles> {
  const cache = await caches.open(CACHE);
  const files = new Map<string, ByteSource>();
  let downloadedBytes = 0;
  let notCached: string | null = null;
  const fetchFile = async (url: string, name: string, optional: boolean): Promise<Uint8Array | null> => {
    const got = await cachedFetch(cache, url, name, optional, onProgress);
    if (got !== null && !got.cached) downloadedBytes += got.bytes.length;
    if (got?.notCached) notCached ??= `${name} is not cached (${got.notCached})`;
    return got?.bytes ?? null;
  };
  const isWeights = (name: string) => name.endsWith(".safetensors") || name.endsWith(".gguf");
  /** Checks before the first weights that are not cached yet are downloaded. */
  const checkBefore = async (weights: readonly [string, string][]): Promise<void> => {
    for (const [name, url] of weights) {
      if ((await cache.match(url)) !== undefined) continue;
      await weightHeader(url, name, (source) => precheck(new Map([...files, [name, source]])));
    }
  };
  if (location.kind === "gguf") {
    const name = decodeURIComponent(new URL(location.url).pathname.split("/").pop() ?? "model.gguf");
    await checkBefore([[name, location.url]]);
    const data = await fetchFile(location.url, name, false);
    if (data !== null) files.set(name, memorySource(location.url, data));
    return { files, downloadedBytes, notCached };
  }
  const manifestKey = `${location.url}?nanogpt-infer-manifest`;
  const manifest = await cache.match(manifestKey);
  const names: string[] = manifest !== undefined ? ((await manifest.json()) as string[]) : await folderFileNames(location.url, (name, optional) => fetchFile(location.url + name, name, optional));
  if (manifest === undefined) await cache.put(manifestKey, new Response(JSON.stringify(names), { headers: { "content-type": "application/json" } })).catch(() => {});
  const ordered = [...names.filter((n) => !isWeights(n)), ...names.filter(isWeights)];
  for (const name of ordered) {
    // A single safetensors file is checked from its header; a sharded one once downloaded.
    if (name === "model.safetensors") await checkBefore([[name, location.url + name]]);
    const data = await fetchFile(location.url + name, name, false);
    if (data !== null) files.set(name, memorySource(location.url + name, data));
  }
  return { files, downloadedBytes, notCached };
}

interface Fetched {
  readonly bytes: Uint8Array;
  readonly cached: boolean;
  /** Why the download could not be stored, if it could not. */
  readonly notCached?: string;
}

async function cachedFetch(cache: Cache, url: string, name: string, optional: boolean, onProgress: (p: Progress) => void): Promise<Fetched | null> {
  const hit = await cache.match(url);
  if (hit !== undefined) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    onProgress({ file: name, loaded: bytes.length, total: bytes.length, cached: true });
    return { bytes, cached: true };
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new UserError(`cannot download ${url}: ${e instanceof Error ? e.message : String(e)} (offline, or the server does not allow this page to read it)`);
  }
  if (response.status === 404 && optional) return null;
  if (!response.ok) throw new UserError(`cannot download ${url}: HTTP ${response.status}${response.statusText === "" ? "" : ` ${response.statusText}`}`);
  const bytes = await readWithProgress(response, name, onProgress);
  try {
    await cache.put(url, new Response(bytes, { headers: { "content-type": response.headers.get("content-type") ?? "application/octet-stream" } }));
  } catch (e) {
    // Over the origin's storage quota, or storage turned off: the model still runs, uncached.
    return { bytes, cached: false, notCached: e instanceof Error ? e.message : String(e) };
  }
  return { bytes, cached: false };
}

async function readWithProgress(response: Response, name: string, onProgress: (p: Progress) => void): Promise<Uint8Array<ArrayBuffer>> {
  const length = Number(response.headers.get("content-length"));
  const total = Number.isSafeInteger(length) && length > 0 ? length : null;
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(await response.arrayBuffer());
  // One buffer of the announced size (a compressed response may hold more: then it grows).
  let out = new Uint8Array(total ?? 1 << 20);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.length > out.length) {
      const grown = new Uint8Array(Math.max(2 * out.length, loaded + value.length));
      grown.set(out.subarray(0, loaded));
      out = grown;
    }
    out.set(value, loaded);
    loaded += value.length;
    onProgress({ file: name, loaded, total, cached: false });
  }
  return loaded === out.length ? out : out.slice(0, loaded);
}
