import fs from "node:fs";
import path from "node:path";
import { UserError } from "../../errors.js";
import { blobPath, cachedCommit, fileSize, hubCacheDir, indexShards, linkIntoSnapshot, missingModelFiles, repoCacheDir, snapshotDir, writeRef } from "./cache.js";
import { fileInside } from "../inside.js";
import { blobDigest, DEFAULT_DOWNLOAD_TIMEOUT_S, DEFAULT_ETAG_TIMEOUT_S, downloadBlob, httpError, isNetworkError, networkReason, timeoutFromEnv } from "./download.js";
import { COMMIT_HASH, formatHubId, parseHubId, type HubId } from "./id.js";
import { createProgress, type Progress } from "./progress.js";

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
  try {
    return await download(id, repoDir, env, progress);
  } catch (e) {
    if (e instanceof OfflineError && cached !== null) {
      progress.note(`${e.message}; using the cached snapshot ${path.basename(cached)}`);
      return cached;
    }
    throw e;
  }
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

async function download(id: HubId, repoDir: string, env: NodeJS.ProcessEnv, progress: Progress): Promise<string> {
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
  const name = formatHubId(id);
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
  const need = (file: string): RemoteFile => {
    const f = remote.get(file);
    if (f === undefined) throw new UserError(`model ${name}: ${file} is missing from the repository`);
    return f;
  };

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
  for (const f of files) await fetchFile(f);
  writeRef(repoDir, id.revision, commit);

  const dir = snapshotDir(repoDir, commit);
  const missing = missingModelFiles(dir);
  if (missing.length > 0) throw new UserError(`model ${name}: snapshot ${dir} still lacks ${missing.join(", ")}`);
  return dir;
}
