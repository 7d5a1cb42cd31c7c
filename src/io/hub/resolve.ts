import fs from "node:fs";
import path from "node:path";
import { UserError } from "../../errors.js";
import { blobPath, cachedCommit, fileSize, hubCacheDir, indexShards, linkIntoSnapshot, missingModelFiles, repoCacheDir, snapshotDir, writeRef } from "./cache.js";
import { fileInside } from "../inside.js";
import { blobDigest, DEFAULT_DOWNLOAD_TIMEOUT_S, DEFAULT_ETAG_TIMEOUT_S, downloadBlob, httpError, isNetworkError, networkReason, timeoutFromEnv } from "./download.js";
import { COMMIT_HASH, formatHubId, parseHubId, type HubId } from "./id.js";
import { createProgress, type Progress } from "./progress.js";
import { formatHubGGUFId, ggufFiles, parseHubGGUFId, pickGGUF, type HubGGUFId } from "./gguf-pick.js";

export interface ResolveHubOptions {
  /** No progress output. */
  quiet?: boolean;
  /** Defaults to process.env; tests pass their own HF_ENDPOINT, HF_HUB_CACHE, ... */
  env?: NodeJS.ProcessEnv;
}

/** Files worth having besides the weights and the tokenizer. */
const EXTRA_FILES = ["generation_config.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"];

interface RemoteFile {
  readonly path: string;
  readonly size: number;
  readonly etag: string;
  readonly lfs: boolean;
}

/** LFS files are named by their sha256, others by their git blob sha1: nothing else may become a blob path. */
const LFS_OID = /^[0-9a-f]{64}$/;
const GIT_OID = /^[0-9a-f]{40}$/;

function truthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "true", "yes", "on"].includes(v.toLowerCase());
}

/**
 * Makes a Hub model ("org/name[@revision]") available in the Hugging Face cache and returns its
 * snapshot folder. Only what the engine reads is fetched: config, tokenizer files and the
 * safetensors weights (single file, or the index and its shards). A commit already complete in
 * the cache needs no network; HF_HUB_OFFLINE=1 never touches it; when the Hub cannot be reached,
 * a complete cached snapshot of the revision is used instead.
 */
export async function resolveHubModel(source: string, options: ResolveHubOptions = {}): Promise<string> {
  const id = parseHubId(source);
  if (id === null) throw new UserError(`${source} is not a Hugging Face model id (expected org/name or org/name@revision)`);
  const env = options.env ?? process.env;
  const progress = createProgress({ quiet: options.quiet });
  const repoDir = repoCacheDir(hubCacheDir(env), id.repo);

  const cached = cachedSnapshot(repoDir, id);
  if (cached !== null && COMMIT_HASH.test(id.revision)) return cached;
  if (truthy(env.HF_HUB_OFFLINE)) {
    if (cached !== null) return cached;
    throw new UserError(`${formatHubId(id)} is not in the cache (${repoDir}) and HF_HUB_OFFLINE is set`);
  }
  return withCachedFallback(cached, progress, () => download(id, formatHubId(id), repoDir, env, progress, modelFiles));
}

/**
 * Makes one GGUF file of a Hub repository available in the Hugging Face cache and returns its
 * path: "org/name[@revision]:QUANT" or "org/name/file.gguf" (see gguf-pick.ts). Nothing else
 * of the repository is fetched. Offline and cache rules as for resolveHubModel.
 */
export async function resolveHubGGUF(source: string, options: ResolveHubOptions = {}): Promise<string> {
  const id = parseHubGGUFId(source);
  if (id === null) throw new UserError(`${source} is not a Hugging Face GGUF id (expected org/name:QUANT or org/name/file.gguf)`);
  const env = options.env ?? process.env;
  const progress = createProgress({ quiet: options.quiet });
  const repoDir = repoCacheDir(hubCacheDir(env), id.repo);

  const cached = cachedGGUF(repoDir, id);
  if (cached !== null && COMMIT_HASH.test(id.revision)) return cached;
  if (truthy(env.HF_HUB_OFFLINE)) {
    if (cached !== null) return cached;
    throw new UserError(`${formatHubGGUFId(id)} is not in the cache (${repoDir}) and HF_HUB_OFFLINE is set`);
  }
  return withCachedFallback(cached, progress, () => download(id, formatHubGGUFId(id), repoDir, env, progress, (remote) => ggufChoice(id, remote)));
}

/** The download, or when the Hub cannot be reached at all, what the cache already has. */
async function withCachedFallback(cached: string | null, progress: Progress, run: () => Promise<string>): Promise<string> {
  try {
    return await run();
  } catch (e) {
    if (e instanceof OfflineError && cached !== null) {
      progress.note(`${e.message}; using the cached ${path.basename(cached)}`);
      return cached;
    }
    throw e;
  }
}

/** The cached file a GGUF id names, by the same choice as online, among the snapshot's files. */
function cachedGGUF(repoDir: string, id: HubGGUFId): string | null {
  const commit = cachedCommit(repoDir, id.revision);
  if (commit === null) return null;
  const dir = snapshotDir(repoDir, commit);
  if (!fs.existsSync(dir)) return null;
  const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => f.split(path.sep).join("/"));
  let file: string;
  try {
    file = pickGGUF(id, files);
  } catch {
    return null;
  }
  const full = path.join(dir, file);
  return fileSize(full) >= 0 ? full : null;
}

/** The cached snapshot of a revision if it has every file the engine needs. */
function cachedSnapshot(repoDir: string, id: HubId): string | null {
  const commit = cachedCommit(repoDir, id.revision);
  if (commit === null) return null;
  const dir = snapshotDir(repoDir, commit);
  return fs.existsSync(dir) && missingModelFiles(dir).length === 0 ? dir : null;
}

/** The Hub could not be reached at all (as opposed to answering with an error). */
class OfflineError extends UserError {}

/**
 * Which files of a repository listing to fetch, and the path to return once they are in the
 * snapshot folder `dir`; `fetchFile` fetches one at once (an index whose shards it names).
 */
type Choose = (remote: ReadonlyMap<string, RemoteFile>, fetchFile: (f: RemoteFile) => Promise<string>, name: string) => Promise<{ files: RemoteFile[]; result: (dir: string) => string }>;

async function download(id: HubId, name: string, repoDir: string, env: NodeJS.ProcessEnv, progress: Progress, choose: Choose): Promise<string> {
  const endpoint = (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN;
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const etagTimeout = timeoutFromEnv(env, "HF_HUB_ETAG_TIMEOUT", DEFAULT_ETAG_TIMEOUT_S);
  const stallSeconds = timeoutFromEnv(env, "HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_DOWNLOAD_TIMEOUT_S);
  // The library's own token check insists on "hf_" prefixes that mirrors need not use. The
  // timeout is here because the library sets none: a mirror that never answers would hang us.
  const hubFetch: typeof fetch = async (input, init) => {
    const h = new Headers(init?.headers);
    for (const [k, v] of Object.entries(headers)) if (!h.has(k)) h.set(k, v);
    const timeout = AbortSignal.timeout(etagTimeout * 1000);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    try {
      return await fetch(input, { ...init, headers: h, signal });
    } catch (e) {
      if (!timeout.aborted) throw e;
      const url = input instanceof Request ? input.url : String(input);
      throw new OfflineError(`no answer from ${url} within ${etagTimeout} s (HF_HUB_ETAG_TIMEOUT)`);
    }
  };
  const { modelInfo, listFiles, HubApiError } = await import("@huggingface/hub");
  const api = async <T>(what: string, url: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      if (e instanceof UserError) throw e;
      // A body that stops mid-way times out while the library reads it, past hubFetch's catch.
      if (e instanceof DOMException && e.name === "TimeoutError") throw new OfflineError(`no answer from ${url} within ${etagTimeout} s (HF_HUB_ETAG_TIMEOUT)`);
      if (e instanceof HubApiError) throw httpError(e.statusCode, e.url || url, what);
      if (isNetworkError(e)) throw new OfflineError(`cannot reach ${endpoint} for ${name}: ${networkReason(e)}`);
      throw new UserError(`${what}: ${(e as Error).message} (${url})`);
    }
  };

  const infoUrl = `${endpoint}/api/models/${id.repo}/revision/${encodeURIComponent(id.revision)}`;
  const info = await api(`model ${name}`, infoUrl, () => modelInfo({ name: id.repo, revision: id.revision, additionalFields: ["sha"], hubUrl: endpoint, fetch: hubFetch }));
  const commit = info.sha;
  if (typeof commit !== "string" || !COMMIT_HASH.test(commit)) throw new UserError(`model ${name}: ${infoUrl} gave no commit hash`);

  const treeUrl = `${endpoint}/api/models/${id.repo}/tree/${commit}`;
  const remote = new Map<string, RemoteFile>();
  await api(`model ${name}`, treeUrl, async () => {
    for await (const entry of listFiles({ repo: { type: "model", name: id.repo }, revision: commit, hubUrl: endpoint, fetch: hubFetch })) {
      const etag = entry.lfs?.oid ?? entry.oid;
      if (entry.type !== "file" || etag === undefined) continue;
      remote.set(entry.path, { path: entry.path, size: entry.lfs?.size ?? entry.size, etag, lfs: entry.lfs !== undefined });
    }
  });

  const fetchFile = async (file: RemoteFile): Promise<string> => {
    const pointer = fileInside(snapshotDir(repoDir, commit), file.path, `model ${name}`);
    if (!(file.lfs ? LFS_OID : GIT_OID).test(file.etag)) {
      throw new UserError(`model ${name}: ${treeUrl} gave ${file.path} the ${file.lfs ? "LFS oid" : "oid"} ${JSON.stringify(file.etag)}, not ${file.lfs ? 64 : 40} hex digits`);
    }
    if (!Number.isSafeInteger(file.size) || file.size < 0) throw new UserError(`model ${name}: ${treeUrl} gave ${file.path} the size ${JSON.stringify(file.size)}`);
    if (fileSize(pointer) === file.size) return pointer;
    const blob = blobPath(repoDir, file.etag);
    if (fileSize(blob) !== file.size) {
      const url = `${endpoint}/${id.repo}/resolve/${commit}/${file.path.split("/").map(encodeURIComponent).join("/")}`;
      try {
        await downloadBlob({ url, blob, size: file.size, label: `${id.repo}/${file.path}`, digest: blobDigest(file.etag, file.lfs), headers, fetch, progress, stallSeconds });
      } catch (e) {
        if (e instanceof UserError) throw e;
        throw new UserError(`download of ${url} failed: ${networkReason(e)}`);
      }
    }
    return linkIntoSnapshot(repoDir, commit, file.path, file.etag);
  };
  const { files, result } = await choose(remote, fetchFile, name);
  for (const f of files) await fetchFile(f);
  writeRef(repoDir, id.revision, commit);
  return result(snapshotDir(repoDir, commit));
}

/** What a safetensors model needs: config, tokenizer, the weights (one file, or an index and its shards). */
const modelFiles: Choose = async (remote, fetchFile, name) => {
  const need = (file: string): RemoteFile => {
    const f = remote.get(file);
    if (f === undefined) throw new UserError(`model ${name}: ${file} is missing from the repository`);
    return f;
  };
  if (!remote.has("config.json") && !remote.has("model.safetensors") && !remote.has("model.safetensors.index.json")) {
    const gguf = ggufFiles(remote.keys());
    if (gguf.length > 0) throw new UserError(`model ${name} has only GGUF files: pick one with ${name}:QUANT (as llama.cpp's -hf) or ${name}/FILE.gguf; there: ${gguf.join(", ")}`);
  }
  const files: RemoteFile[] = [need("config.json")];
  if (remote.has("tokenizer.json")) files.push(need("tokenizer.json"));
  else if (remote.has("vocab.json") && remote.has("merges.txt")) files.push(need("vocab.json"), need("merges.txt"));
  else throw new UserError(`model ${name} has no tokenizer (tokenizer.json, or vocab.json and merges.txt)`);
  for (const extra of EXTRA_FILES) {
    const f = remote.get(extra);
    if (f !== undefined) files.push(f);
  }
  if (remote.has("model.safetensors")) {
    files.push(need("model.safetensors"));
  } else if (remote.has("model.safetensors.index.json")) {
    const index = await fetchFile(need("model.safetensors.index.json"));
    const shards = indexShards(index);
    if (shards === null) throw new UserError(`model ${name}: model.safetensors.index.json has no weight_map`);
    files.push(...shards.map(need));
  } else {
    const list = [...remote.keys()].join(", ");
    throw new UserError(`model ${name} has no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported; files: ${list})`);
  }
  const result = (dir: string): string => {
    const missing = missingModelFiles(dir);
    if (missing.length > 0) throw new UserError(`model ${name}: snapshot ${dir} still lacks ${missing.join(", ")}`);
    return dir;
  };
  return { files, result };
};

/** The one GGUF file the id picks (gguf-pick.ts), and nothing else. */
async function ggufChoice(id: HubGGUFId, remote: ReadonlyMap<string, RemoteFile>): Promise<{ files: RemoteFile[]; result: (dir: string) => string }> {
  const file = pickGGUF(id, [...remote.keys()]);
  const f = remote.get(file);
  if (f === undefined) throw new Error(`pickGGUF chose ${file}, which is not listed`);
  return { files: [f], result: (dir) => path.join(dir, file) };
}
