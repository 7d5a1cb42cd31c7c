import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileInside } from "../inside.js";
import { COMMIT_HASH } from "./id.js";

/**
 * The Hugging Face cache layout shared with the Python tools (huggingface_hub):
 *   <cache>/models--org--name/blobs/<etag>                 file contents, named by git or LFS hash
 *   <cache>/models--org--name/refs/<revision>              the commit a branch or tag pointed to
 *   <cache>/models--org--name/snapshots/<commit>/<file>    relative symlinks into blobs/
 * A blob is only ever renamed into place once complete, so a file under snapshots/ is whole.
 */

/** $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  const home = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "huggingface");
  return path.join(home, "hub");
}

export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, `models--${repo.split("/").join("--")}`);
}

/** The commit a revision names in the cache: itself for a commit hash, else refs/<revision>. */
export function cachedCommit(repoDir: string, revision: string): string | null {
  if (COMMIT_HASH.test(revision)) return revision;
  try {
    const commit = fs.readFileSync(path.join(repoDir, "refs", revision), "utf8").trim();
    return COMMIT_HASH.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const ref = path.join(repoDir, "refs", revision);
  fs.mkdirSync(path.dirname(ref), { recursive: true });
  fs.writeFileSync(ref, commit);
}

export function blobPath(repoDir: string, etag: string): string {
  return path.join(repoDir, "blobs", etag);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return path.join(repoDir, "snapshots", commit);
}

/** Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink (a copy where links fail). */
export function linkIntoSnapshot(repoDir: string, commit: string, file: string, etag: string): string {
  const pointer = path.join(snapshotDir(repoDir, commit), file);
  const blob = blobPath(repoDir, etag);
  fs.mkdirSync(path.dirname(pointer), { recursive: true });
  fs.rmSync(pointer, { force: true });
  try {
    fs.symlinkSync(path.relative(path.dirname(pointer), blob), pointer);
  } catch {
    fs.copyFileSync(blob, pointer);
  }
  return pointer;
}

/** Size of a file (following symlinks), or -1 if it or its blob is missing. */
export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}

/**
 * The files a model folder lacks for this engine (config, a tokenizer, the weights with every
 * shard its index lists); empty when the snapshot is complete.
 */
export function missingModelFiles(dir: string): string[] {
  const has = (f: string) => fileSize(fileInside(dir, f, path.join(dir, "model.safetensors.index.json"))) >= 0;
  const missing: string[] = [];
  if (!has("config.json")) missing.push("config.json");
  if (!has("tokenizer.json") && !(has("vocab.json") && has("merges.txt"))) missing.push("tokenizer.json");
  if (has("model.safetensors")) return missing;
  if (!has("model.safetensors.index.json")) return [...missing, "model.safetensors"];
  for (const shard of indexShards(path.join(dir, "model.safetensors.index.json")) ?? ["model.safetensors.index.json"]) {
    if (!has(shard)) missing.push(shard);
  }
  return missing;
}

/** The shard files a model.safetensors.index.json names, or null if it is unreadable. */
export function indexShards(indexFile: string): string[] | null {
  try {
    const json: unknown = JSON.parse(fs.readFileSync(indexFile, "utf8"));
    if (typeof json !== "object" || json === null || !("weight_map" in json)) return null;
    const map = json.weight_map;
    if (typeof map !== "object" || map === null) return null;
    return [...new Set(Object.values(map).map(String))];
  } catch {
    return null;
  }
}
