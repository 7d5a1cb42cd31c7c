import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

/**
 * A stand-in for the Hugging Face Hub on 127.0.0.1, serving fixture folders with the routes and
 * headers @huggingface/hub and the downloader use: the revision API, the tree API, paths-info,
 * and resolve/ with ETag, X-Repo-Commit and Range requests. It can require a token, cut a file
 * after some bytes, or lie about a size, to test the failure paths.
 */

export interface MockRepo {
  readonly id: string; // "org/name"
  readonly dir: string;
  readonly sha: string;
  /** Requests without "Authorization: Bearer <token>" get 401. */
  readonly token?: string;
  /** With a token: the API answers anyone, only downloads need the token (a gated model). */
  readonly gated?: boolean;
}

export interface RequestLog {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
}

export interface MockHub {
  readonly url: string;
  readonly requests: RequestLog[];
  /** file name -> bytes after which the next download of it is cut (once). */
  readonly cutAfter: Map<string, number>;
  /** file name -> bytes to leave off the end while still claiming the full size in the tree. */
  readonly shortBy: Map<string, number>;
  /** file name -> the oid (or LFS oid) the listings claim for it instead of the real one. */
  readonly fakeOid: Map<string, string>;
  /** files whose served bytes have one byte flipped (same size, wrong hash). */
  readonly corrupt: Set<string>;
  /** extra listing entries (any name, "../x" included) with their bytes, served like files. */
  readonly extraFiles: Map<string, Buffer>;
  /** Routes that accept the request and never answer: "api" (revision, tree, paths-info) and/or "resolve" (file downloads). */
  readonly silent: Set<"api" | "resolve">;
  close(): Promise<void>;
}

interface FileEntry {
  readonly path: string;
  readonly size: number;
  readonly oid: string; // git blob sha1
  readonly lfs: { oid: string; size: number; pointerSize: number } | undefined;
}

function gitBlobOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

function entry(name: string, content: Buffer): FileEntry {
  const lfs = name.endsWith(".safetensors") || name.endsWith(".gguf") ? { oid: createHash("sha256").update(content).digest("hex"), size: content.length, pointerSize: 134 } : undefined;
  return { path: name, size: content.length, oid: gitBlobOid(content), lfs };
}

function entries(dir: string): FileEntry[] {
  return fs
    .readdirSync(dir)
    .filter((f) => fs.statSync(path.join(dir, f)).isFile())
    .sort()
    .map((f) => entry(f, fs.readFileSync(path.join(dir, f))));
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export async function startMockHub(repos: readonly MockRepo[]): Promise<MockHub> {
  const byId = new Map(repos.map((r) => [r.id, { repo: r, files: entries(r.dir) }]));
  const requests: RequestLog[] = [];
  const cutAfter = new Map<string, number>();
  const shortBy = new Map<string, number>();
  const fakeOid = new Map<string, string>();
  const corrupt = new Set<string>();
  const extraFiles = new Map<string, Buffer>();
  const silent = new Set<"api" | "resolve">();
  const withExtras = (files: FileEntry[]): FileEntry[] => [...files, ...[...extraFiles].map(([name, content]) => entry(name, content))];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const range = req.headers.range;
    requests.push({ method: req.method ?? "GET", path: url.pathname, range });
    const parts = url.pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);

    const api = parts[0] === "api" && parts[1] === "models";
    if (silent.has(api ? "api" : "resolve")) return; // the socket stays open, no byte comes back
    const repoId = api ? `${parts[2]}/${parts[3]}` : `${parts[0]}/${parts[1]}`;
    const found = byId.get(repoId);
    if (found === undefined) return json(res, 404, { error: "Repository not found" });
    const { repo } = found;
    const files = withExtras(found.files);
    if (repo.token !== undefined && !(repo.gated && api) && req.headers.authorization !== `Bearer ${repo.token}`) {
      return json(res, 401, { error: "Invalid username or password." });
    }
    const revision = api ? parts[5] : parts[3];
    if (revision !== "main" && revision !== repo.sha) return json(res, 404, { error: `Invalid rev id: ${revision}` });

    if (api && parts[4] === "revision") {
      return json(res, 200, {
        _id: `id-${repo.id}`,
        id: repo.id,
        sha: repo.sha,
        private: repo.token !== undefined && !repo.gated,
        gated: repo.gated === true ? "auto" : false,
        downloads: 0,
        likes: 0,
        lastModified: "2024-01-01T00:00:00.000Z",
        pipeline_tag: "text-generation",
        siblings: files.map((f) => ({ rfilename: f.path })),
      });
    }
    const listing = (f: FileEntry) => {
      const fake = fakeOid.get(f.path);
      const oid = fake !== undefined && f.lfs === undefined ? fake : f.oid;
      const lfs = f.lfs !== undefined && fake !== undefined ? { ...f.lfs, oid: fake } : f.lfs;
      return { type: "file", oid, size: f.size, path: f.path, ...(lfs ? { lfs } : {}) };
    };
    if (api && parts[4] === "tree") return json(res, 200, files.map(listing));
    if (api && parts[4] === "paths-info" && req.method === "POST") {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const wanted = new Set((JSON.parse(body) as { paths: string[] }).paths);
        json(res, 200, files.filter((f) => wanted.has(f.path)).map(listing));
      });
      return;
    }
    if (!api && parts[2] === "resolve") {
      const name = parts.slice(4).join("/");
      const file = files.find((f) => f.path === name);
      if (file === undefined) return json(res, 404, { error: "Entry not found" });
      let content = extraFiles.get(name) ?? fs.readFileSync(path.join(repo.dir, name));
      if (corrupt.has(name)) {
        content = Buffer.from(content);
        content[content.length >> 1] ^= 0xff;
      }
      const short = shortBy.get(name);
      if (short !== undefined) content = content.subarray(0, content.length - short);
      const headers: Record<string, string | number> = {
        ETag: `"${file.lfs?.oid ?? file.oid}"`,
        "X-Repo-Commit": repo.sha,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
      };
      let start = 0;
      let status = 200;
      const m = range === undefined ? null : /^bytes=(\d+)-$/.exec(range);
      if (m !== null) {
        start = Number(m[1]);
        if (start >= content.length) {
          res.writeHead(416, { "Content-Range": `bytes */${content.length}` });
          return res.end();
        }
        status = 206;
        headers["Content-Range"] = `bytes ${start}-${content.length - 1}/${content.length}`;
      }
      const body = content.subarray(start);
      headers["Content-Length"] = body.length;
      res.writeHead(status, headers);
      if (req.method === "HEAD") return res.end();
      const cut = cutAfter.get(name);
      if (cut !== undefined) {
        cutAfter.delete(name);
        // Send part of the body, then drop the connection mid-transfer.
        res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      return res.end(body);
    }
    json(res, 404, { error: "Not found" });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutAfter,
    shortBy,
    fakeOid,
    corrupt,
    extraFiles,
    silent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
