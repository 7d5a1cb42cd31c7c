import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { UserError } from "../../errors.js";
import type { Progress } from "./progress.js";

/**
 * Fetches one file into the cache's blobs/ folder. Bytes go to <blob>.incomplete and are renamed
 * to <blob> only once the size matches, so an interrupted run leaves no corrupt file, and the
 * next run asks for the rest with a Range request. (@huggingface/hub's downloadFileToCacheDir
 * restarts from zero, reports no progress and checks no size, hence this small downloader.)
 */

/** huggingface_hub's defaults for HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT, in seconds. */
export const DEFAULT_ETAG_TIMEOUT_S = 10;
export const DEFAULT_DOWNLOAD_TIMEOUT_S = 10;

/** A timeout in seconds from the environment, as huggingface_hub reads it; unset or empty means the default. */
export function timeoutFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v.trim() === "") return fallback;
  const seconds = Number(v);
  if (!(seconds > 0) || !Number.isFinite(seconds)) throw new UserError(`${name} must be a positive number of seconds, got ${JSON.stringify(v)}`);
  return seconds;
}

export interface BlobDownload {
  readonly url: string;
  readonly blob: string;
  readonly size: number;
  readonly label: string;
  /** What the bytes must hash to: an LFS file's sha256, or a git blob's sha1 ("blob <size>\0" + bytes). */
  readonly digest: BlobDigest;
  readonly headers: Record<string, string>;
  readonly fetch: typeof fetch;
  readonly progress: Progress;
  /** Seconds without a byte (or without response headers) before giving up: HF_HUB_DOWNLOAD_TIMEOUT. */
  readonly stallSeconds: number;
}

export interface BlobDigest {
  readonly kind: "sha256" | "git-sha1";
  readonly hex: string;
}

/** The digest a Hub listing promises for a file: the LFS oid (sha256) if it has one, else the git oid. */
export function blobDigest(etag: string, lfs: boolean): BlobDigest {
  return { kind: lfs ? "sha256" : "git-sha1", hex: etag };
}

export async function downloadBlob(d: BlobDownload): Promise<void> {
  const partial = `${d.blob}.incomplete`;
  fs.mkdirSync(path.dirname(d.blob), { recursive: true });
  let have = Math.max(0, fileSizeOf(partial));
  if (have > d.size) {
    fs.rmSync(partial);
    have = 0;
  }
  if (have < d.size || d.size === 0) await fetchInto(d, partial, have);
  const got = fileSizeOf(partial);
  if (got !== d.size) {
    // Too long can only be wrong content; too short resumes on the next run.
    if (got > d.size) fs.rmSync(partial, { force: true });
    throw new UserError(`${d.url}: size check failed: got ${got} bytes, expected ${d.size}${got < d.size ? "; run again to resume" : ""}`);
  }
  const actual = hashFile(partial, d.digest.kind);
  if (actual !== d.digest.hex) {
    fs.rmSync(partial, { force: true });
    throw new UserError(`${d.url}: ${d.digest.kind} check failed: got ${actual}, expected ${d.digest.hex}; the file was removed`);
  }
  fs.renameSync(partial, d.blob);
}

const HASH_CHUNK = 1 << 22;

function hashFile(file: string, kind: BlobDigest["kind"]): string {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  const fd = fs.openSync(file, "r");
  try {
    if (kind === "git-sha1") hash.update(`blob ${fs.fstatSync(fd).size}\0`);
    const buf = Buffer.alloc(HASH_CHUNK);
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest("hex");
}

function fileSizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}

async function fetchInto(d: BlobDownload, partial: string, have: number): Promise<void> {
  const abort = new AbortController();
  let stalled = false;
  const stallMs = d.stallSeconds * 1000;
  const stallNote = `no data for ${d.stallSeconds} s (HF_HUB_DOWNLOAD_TIMEOUT)`;
  let timer = setTimeout(() => ((stalled = true), abort.abort()), stallMs);
  const headers: Record<string, string> = { ...d.headers };
  if (have > 0) headers["Range"] = `bytes=${have}-`;
  let res: Response;
  try {
    res = await d.fetch(d.url, { headers, signal: abort.signal, redirect: "follow" });
  } catch (e) {
    clearTimeout(timer);
    throw new UserError(`cannot download ${d.url}: ${stalled ? stallNote : networkReason(e)}`);
  }
  if (res.status === 416 && have > 0) {
    // The server has no bytes past ours: our partial file is not a prefix of this blob. Start over.
    clearTimeout(timer);
    await res.body?.cancel();
    fs.rmSync(partial, { force: true });
    return fetchInto(d, partial, 0);
  }
  if (!res.ok) {
    clearTimeout(timer);
    await res.body?.cancel();
    throw httpError(res.status, d.url, d.label);
  }
  // A server that ignores Range sends the whole file again.
  const append = have > 0 && res.status === 206;
  let received = append ? have : 0;
  const out = fs.openSync(partial, append ? "a" : "w");
  const bar = d.progress.start(d.label, d.size, received);
  try {
    if (res.body === null) throw new Error("empty response body");
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      fs.writeSync(out, value);
      received += value.length;
      bar.update(received);
      clearTimeout(timer);
      timer = setTimeout(() => ((stalled = true), abort.abort()), stallMs);
    }
  } catch (e) {
    bar.fail();
    throw new UserError(`download of ${d.url} was cut after ${received} of ${d.size} bytes (${stalled ? stallNote : networkReason(e)}); run again to resume`);
  } finally {
    clearTimeout(timer);
    fs.closeSync(out);
  }
  bar.done();
}

/** A one-line reason from fetch's nested errors ("fetch failed" hides the socket error in cause). */
export function networkReason(e: unknown): string {
  let err: unknown = e;
  const parts: string[] = [];
  while (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    parts.push(code !== undefined ? `${code}` : err.message);
    err = err.cause;
  }
  const last = parts.at(-1) ?? String(e);
  return last === "ECONNREFUSED" ? "connection refused" : last;
}

export function isNetworkError(e: unknown): boolean {
  return e instanceof TypeError && e.message === "fetch failed";
}

export function httpError(status: number, url: string, what: string): UserError {
  const auth = process.env.HF_TOKEN ? "HF_TOKEN is set but has no access to it" : "set HF_TOKEN to a token with access";
  switch (status) {
    case 401:
      return new UserError(`${what}: 401 Unauthorized from ${url}: the repository is private or gated; ${auth}`);
    case 403:
      return new UserError(`${what}: 403 Forbidden from ${url}: ${auth} (gated models also need access granted on their page)`);
    case 404:
      return new UserError(`${what}: not found (404 from ${url})`);
    default:
      return new UserError(`${what}: HTTP ${status} from ${url}`);
  }
}
