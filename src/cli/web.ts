import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { UserError } from "../errors.js";
import { classifyModelSource } from "../io/hub/source.js";
import { defaultModelDir } from "../model/default-model.js";
import { intFlag, stringFlag, type Command, type FlagValues } from "./options.js";

export const webHelp = `nanogpt-infer web [options]   the demo page: the engine in the browser (Web Workers, wasm SIMD)
  --model DIR|FILE.gguf|org/name|URL   the page's model (default: the embedded shakespeare-byte-gpt2);
                      a folder or .gguf is served with the page, a Hub id or URL is fetched by the browser
  --host H            address to listen on (default 127.0.0.1: this machine only)
  --port P            port (default 8081; 0 picks a free one)
  --quiet             no per-request log lines`;

/** The package's root: this file runs as dist/src/cli/web.js. */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

/**
 * What the page can use at all: SharedArrayBuffer (and so threads) needs cross-origin isolation,
 * which these two headers turn on; every response is same-origin, so require-corp blocks nothing.
 */
const ISOLATION = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export interface WebServerOptions {
  /** A model folder, a .gguf file, a Hub id or a URL (default: the embedded model). */
  readonly model?: string;
  readonly host?: string;
  readonly port?: number;
  /** Called with "METHOD /path STATUS" for every request. */
  readonly onRequest?: (line: string) => void;
  /** More folders to serve, by URL prefix ("/wllama/" → a folder): for benchmarks against other engines. */
  readonly mounts?: Readonly<Record<string, string>>;
}

export interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

/** What the page loads by default: a path on this server, or a Hub id or URL the browser fetches. */
function pageModel(model: string): { source: string; serve: { dir: string } | { file: string } | null } {
  if (/^https?:\/\//.test(model)) return { source: model, serve: null };
  const kind = classifyModelSource(model);
  if (kind === "hub") return { source: model, serve: null };
  if (!fs.existsSync(model)) throw new UserError(`--model ${model}: no such ${kind === "gguf" ? "file" : "folder"}`);
  if (kind === "gguf") return { source: `/model/${encodeURIComponent(path.basename(model))}`, serve: { file: path.resolve(model) } };
  if (kind === "folder") return { source: "/model/", serve: { dir: path.resolve(model) } };
  throw new UserError(`${model}: the page reads Hugging Face folders and GGUF files, not llama2.c checkpoints`);
}

/**
 * The package's dependencies that the engine's modules import by bare name ("@huggingface/jinja"),
 * which a browser cannot resolve: each is served at /vendor/NAME/ from the folder Node resolves it
 * to, and the modules under /lib/ are sent with the name replaced by its entry's URL there, as a
 * development server does (a bundler resolves them itself).
 */
interface Vendored {
  readonly dir: string;
  readonly url: string;
}

function vendoredDependencies(): Map<string, Vendored> {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string> };
  const out = new Map<string, Vendored>();
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    let entry: string;
    try {
      entry = fileURLToPath(import.meta.resolve(name));
    } catch {
      continue; // not installed: a module importing it fails in the browser, naming it
    }
    // The package's folder: the nearest one above the entry whose package.json names it.
    for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      const manifest = path.join(dir, "package.json");
      if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, "utf8")) as { name?: string }).name === name) {
        out.set(name, { dir, url: `/vendor/${name}/${path.relative(dir, entry).split(path.sep).join("/")}` });
        break;
      }
    }
  }
  return out;
}

const IMPORT_SPECIFIER = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])([^"'./][^"']*)\2/g;

/** A module's text with the bare names of `vendored` packages replaced by their URLs. */
function resolveBareImports(source: string, vendored: ReadonlyMap<string, Vendored>): string {
  return source.replace(IMPORT_SPECIFIER, (all, keyword: string, quote: string, name: string) => {
    const v = vendored.get(name);
    return v === undefined ? all : `${keyword}${quote}${v.url}${quote}`;
  });
}

/** `base/rel` when it stays inside `base`, else null. */
function inside(base: string, rel: string): string | null {
  const file = path.resolve(base, "." + path.posix.normalize("/" + rel));
  return file === base || file.startsWith(base + path.sep) ? file : null;
}

/** Serves web/ at /, dist/src/ (the engine's modules and kernels) at /lib/, and the model at /model/. */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const model = pageModel(options.model ?? defaultModelDir());
  const name = options.model === undefined ? path.basename(defaultModelDir()) : path.basename(options.model.replace(/\/+$/, ""));
  const webDir = path.join(ROOT, "web");
  const libDir = path.join(ROOT, "dist", "src");
  if (!fs.existsSync(path.join(libDir, "browser", "index.js"))) throw new UserError(`${libDir}/browser/index.js is missing: run \`npm run build\``);
  const vendored = vendoredDependencies();

  const resolve = (pathname: string): string | null => {
    if (pathname === "/") return path.join(webDir, "index.html");
    if (pathname.startsWith("/lib/")) return inside(libDir, pathname.slice("/lib/".length));
    for (const [name, v] of vendored) if (pathname.startsWith(`/vendor/${name}/`)) return inside(v.dir, pathname.slice(`/vendor/${name}/`.length));
    for (const [prefix, dir] of Object.entries(options.mounts ?? {})) if (pathname.startsWith(prefix)) return inside(path.resolve(dir), pathname.slice(prefix.length));
    if (pathname.startsWith("/model/") && model.serve !== null) {
      const rest = pathname.slice("/model/".length);
      if ("file" in model.serve) return rest === path.basename(model.serve.file) ? model.serve.file : null;
      return inside(model.serve.dir, rest);
    }
    return inside(webDir, pathname.slice(1));
  };

  const server = http.createServer((req, res) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      pathname = "";
    }
    const send = (status: number, body: string | Buffer | fs.ReadStream, headers: Record<string, string | number>) => {
      res.writeHead(status, { ...ISOLATION, "cache-control": "no-cache", ...headers });
      options.onRequest?.(`${req.method} ${pathname} ${status}`);
      if (typeof body === "string" || Buffer.isBuffer(body)) res.end(req.method === "HEAD" ? undefined : body);
      else if (req.method === "HEAD") res.end();
      else body.pipe(res);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n", { "content-type": "text/plain", allow: "GET, HEAD" });
    if (pathname === "/default-model.json") return send(200, JSON.stringify({ source: model.source, name }), { "content-type": TYPES[".json"] });
    const file = resolve(pathname);
    const stat = file === null ? null : fs.statSync(file, { throwIfNoEntry: false });
    if (file === null || stat === null || stat === undefined || !stat.isFile()) return send(404, "not found\n", { "content-type": "text/plain" });
    const type = TYPES[path.extname(file)] ?? "application/octet-stream";
    // One range, as the page asks for a weight file's header before downloading it.
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    const start = Number(range?.[1]);
    const end = Math.min(range?.[2] ? Number(range[2]) : stat.size - 1, stat.size - 1);
    if (range !== null && start <= end) {
      return send(206, fs.createReadStream(file, { start, end }), { "content-type": type, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${stat.size}` });
    }
    if (pathname.startsWith("/lib/") && file.endsWith(".js")) {
      const body = Buffer.from(resolveBareImports(fs.readFileSync(file, "utf8"), vendored));
      return send(200, body, { "content-type": type, "content-length": body.length });
    }
    send(200, fs.createReadStream(file), { "content-type": type, "content-length": stat.size, "accept-ranges": "bytes" });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(e.code === "EADDRINUSE" ? new UserError(`port ${options.port} is in use (--port 0 picks a free one)`) : e));
    server.listen(options.port ?? 8081, options.host ?? "127.0.0.1", () => resolveListen());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/`,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function webCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { model: { type: "string" }, host: { type: "string" }, port: { type: "string" }, quiet: { type: "boolean" } } });
  const flags: FlagValues = values;
  const port = intFlag(flags, "port", 0) ?? 8081;
  if (port > 65535) throw new UserError(`--port must be at most 65535, got ${port}`);
  const quiet = values.quiet === true;
  const server = await startWebServer({
    model: stringFlag(flags, "model"),
    host: stringFlag(flags, "host"),
    port,
    onRequest: quiet ? undefined : (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
  });
  process.stderr.write(`nanogpt-infer web: open ${server.url}\n`);
}

export const command: Command = { run: webCommand, help: webHelp };
