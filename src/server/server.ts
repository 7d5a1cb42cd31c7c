import { timingSafeEqual } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { UserError } from "../errors.js";
import { ChatTemplate } from "../chat/template.js";
import { QueueFullError, type LLMEngine } from "../engine/llm-engine.js";
import { chatCompletions } from "./chat.js";
import { completions } from "./completions.js";
import type { RequestSummary, ServerContext } from "./context.js";
import { HttpError } from "./errors.js";
import { readJson, sendError, sendJson } from "./http.js";
import { Metrics } from "./metrics.js";
import { asBody, type Body } from "./params.js";

export interface ServerOptions {
  engine: LLMEngine;
  /** Loopback by default: exposing the server is a deliberate choice. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When set, /v1/* requests need "Authorization: Bearer <apiKey>". */
  apiKey?: string | null;
  /** The id clients pass as `model`; defaults to the engine's model folder name. */
  modelName?: string;
  /** Largest request body accepted (bytes). */
  maxBodyBytes?: number;
  /**
   * Origins ("https://app.example", or "*" for any) whose web pages may call the server: they get
   * CORS headers and preflight answers. Empty (the default): browsers on other origins are refused.
   */
  allowedOrigins?: readonly string[];
  /** Receives internal errors and, unless logRequests is false, one line per generation request. */
  log?: (line: string) => void;
  logRequests?: boolean;
}

export interface RunningServer {
  readonly url: string; // http://host:port, without a trailing slash
  readonly port: number;
  readonly metrics: Metrics;
  /** Stops listening and cuts open connections, which cancels their requests. */
  close(): Promise<void>;
}

type Handler = (ctx: ServerContext, body: Body, res: ServerResponse) => Promise<RequestSummary>;

const GENERATE: Record<string, Handler> = {
  "/v1/completions": completions,
  "/v1/chat/completions": chatCompletions,
};

/** An OpenAI-compatible HTTP server over an LLMEngine (node:http, no framework). */
/** Why the server could not listen, as the user's to fix when it is the host or port they gave. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  const at = `${host}:${port}`;
  switch (e.code) {
    case "EADDRINUSE":
      return new UserError(`cannot listen on ${at}: port ${port} is already in use (EADDRINUSE); pick another --port, or 0 for a free one`);
    case "EADDRNOTAVAIL":
      return new UserError(`cannot listen on ${at}: --host ${host} is not an address of this machine (EADDRNOTAVAIL)`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
      return new UserError(`cannot listen on ${at}: --host ${host} is not an IP address or a resolvable name (${e.code})`);
    case "EACCES":
      return new UserError(`cannot listen on ${at}: permission denied (EACCES); ports below 1024 need privileges`);
    default:
      return e;
  }
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { engine } = options;
  const ctx: ServerContext = {
    engine,
    modelName: options.modelName ?? engine.modelName,
    chat: new ChatTemplate(engine.tokenizer),
    createdAt: Math.floor(Date.now() / 1000),
  };
  const maxBodyBytes = options.maxBodyBytes ?? 2 ** 20;
  const log = options.log ?? ((): void => {});
  const metrics = new Metrics();
  const key = options.apiKey ? Buffer.from(options.apiKey) : null;

  const authorized = (req: IncomingMessage): boolean => {
    if (key === null) return true;
    const given = Buffer.from(/^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "");
    return given.length === key.length && timingSafeEqual(given, key);
  };

  const origins = new Set(options.allowedOrigins ?? []);
  /** Whether a browser request from `origin` may be answered; adds the CORS headers when it may. */
  const cors = (req: IncomingMessage, res: ServerResponse): boolean => {
    const origin = req.headers.origin;
    // Caches must not hand one origin's answer to another.
    if (origins.size > 0) res.setHeader("Vary", "Origin");
    if (origin === undefined || !(origins.has("*") || origins.has(origin))) return false;
    res.setHeader("Access-Control-Allow-Origin", origin);
    res.setHeader("Access-Control-Expose-Headers", "x-request-id");
    return true;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const startedAt = performance.now();
    const path = requestPath(req.url ?? "/").replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    let status = 200;
    let summary: RequestSummary | null = null;
    let failure = "";
    try {
      const allowed = cors(req, res);
      if (method === "OPTIONS") {
        preflight(req, res, allowed);
      } else if (path === "/health") {
        if (method !== "GET" && method !== "HEAD") throw notAllowed(method, path);
        sendJson(res, 200, { status: "ok" });
      } else if (path === "/metrics") {
        if (method !== "GET") throw notAllowed(method, path);
        const text = metrics.render(engine.stats());
        res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4", "Content-Length": Buffer.byteLength(text) });
        res.end(text);
      } else if (path.startsWith("/v1/")) {
        if (!authorized(req)) throw new HttpError(401, "Incorrect or missing API key: send it as 'Authorization: Bearer <key>'", "invalid_request_error", null, "invalid_api_key");
        const handler = GENERATE[path];
        if (handler !== undefined) {
          if (method !== "POST") throw notAllowed(method, path);
          requireJson(req);
          watchHalfClose(req, res);
          summary = await handler(ctx, asBody(await readJson(req, maxBodyBytes)), res);
          status = summary.status;
        } else if (path === "/v1/models" || path.startsWith("/v1/models/")) {
          if (method !== "GET") throw notAllowed(method, path);
          models(ctx, path, res);
        } else {
          throw new HttpError(404, `no route ${method} ${path}`, "invalid_request_error", null, "not_found");
        }
      } else {
        throw new HttpError(404, `no route ${method} ${path}`, "invalid_request_error", null, "not_found");
      }
    } catch (e) {
      const err = toHttpError(e);
      if (err.status >= 500) log(`internal error on ${method} ${path}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      status = err.status;
      failure = err.message;
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    }
    if (GENERATE[path] !== undefined && method !== "OPTIONS") {
      metrics.recordRequest(path, status, summary?.timeToFirstTokenMs ?? null);
      if (options.logRequests !== false) log(accessLine(method, path, status, summary, performance.now() - startedAt, failure));
    }
  };

  const server = http.createServer((req, res) => {
    res.on("error", () => {}); // a peer that vanished mid-write is noticed through "close"
    handle(req, res).catch((e: unknown) => {
      log(`internal error: ${String(e)}`);
      res.destroy();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  // By default node:http takes a client's FIN for an abort and drops its request, but a client
  // may half-close after sending a whole request (shutdown(SHUT_WR)) and still read the answer.
  // Only a real close cancels (watchHalfClose finds out which); the property is untyped.
  Object.assign(server, { httpAllowHalfOpen: true });

  const listenHost = options.host ?? "127.0.0.1";
  const listenPort = options.port ?? 8080;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(listenError(e, listenHost, listenPort)));
    server.listen(listenPort, listenHost, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (e) => log(`server error: ${String(e)}`));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the server is not listening on TCP");
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function models(ctx: ServerContext, path: string, res: ServerResponse): void {
  const card = { id: ctx.modelName, object: "model", created: ctx.createdAt, owned_by: "nanogpt-infer", max_model_len: ctx.engine.contextLength };
  if (path === "/v1/models") {
    sendJson(res, 200, { object: "list", data: [card] });
    return;
  }
  let id: string;
  try {
    id = decodeURIComponent(path.slice("/v1/models/".length));
  } catch {
    throw new HttpError(400, `the model id in ${path} is not valid percent-encoding`);
  }
  if (id !== ctx.modelName) throw new HttpError(404, `The model \`${id}\` does not exist`, "invalid_request_error", "model", "model_not_found");
  sendJson(res, 200, card);
}

/**
 * The path of a request target. An origin-form target ("/v1/models?x") is taken as sent, so
 * "//health" stays "//health" instead of becoming a URL whose host is "health"; the absolute
 * form a proxy may send ("http://host/health") is parsed as a URL.
 */
function requestPath(target: string): string {
  if (target.startsWith("/")) return target.replace(/[?#].*$/s, "");
  try {
    return new URL(target).pathname;
  } catch {
    return target; // routed nowhere: a 404 naming it
  }
}

const ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS";

/**
 * A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin
 * gets the methods and headers it may use; one from another origin gets 403. A plain OPTIONS
 * (no Origin) gets the methods in Allow.
 */
function preflight(req: IncomingMessage, res: ServerResponse, allowed: boolean): void {
  const origin = req.headers.origin;
  if (origin !== undefined && req.headers["access-control-request-method"] !== undefined) {
    if (!allowed) throw new HttpError(403, `the origin ${origin} is not allowed (see serve --allowed-origins)`, "invalid_request_error", null, "origin_not_allowed");
    res.writeHead(204, {
      "Access-Control-Allow-Methods": ALLOWED_METHODS,
      "Access-Control-Allow-Headers": "Authorization, Content-Type",
      "Access-Control-Max-Age": "600",
      "Content-Length": "0",
    });
    res.end();
    return;
  }
  res.writeHead(204, { Allow: ALLOWED_METHODS, "Content-Length": "0" });
  res.end();
}

/**
 * Generation bodies must be declared JSON. Besides catching clients that send something else,
 * this keeps browsers from posting to the server from any page without asking: text/plain is
 * a "simple" request that skips the CORS preflight, application/json never does.
 */
function requireJson(req: IncomingMessage): void {
  const type = req.headers["content-type"];
  const media = (type ?? "").split(";")[0].trim().toLowerCase();
  if (media !== "application/json") {
    const got = type === undefined ? "no Content-Type" : `Content-Type ${JSON.stringify(type)}`;
    throw new HttpError(415, `the body must be sent as Content-Type: application/json, got ${got}`, "invalid_request_error", null, "unsupported_media_type");
  }
}

const PROBE_MS = 100;

/**
 * After the client's FIN a socket may be half-closed (the client still reads) or gone; only a
 * write tells them apart, since a closed peer answers it with a reset. So until the response is
 * done, probe with what the client must ignore: an interim "102 Processing" before the status
 * line, an SSE comment after it. A gone client then fails the next write, and "close" cancels.
 */
function watchHalfClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let timer: NodeJS.Timeout | undefined;
  const probe = (): void => {
    if (res.writableEnded || res.destroyed) return;
    if (!res.headersSent) res.writeProcessing();
    else res.write(": \n\n"); // only an event stream sends its head before its end
  };
  const onEnd = (): void => {
    probe();
    timer = setInterval(probe, PROBE_MS);
  };
  if (socket.readableEnded) onEnd();
  else socket.once("end", onEnd);
  res.once("close", () => {
    clearInterval(timer);
    socket.off("end", onEnd);
  });
}

function notAllowed(method: string, path: string): HttpError {
  return new HttpError(405, `${method} is not allowed on ${path}`, "invalid_request_error", null, "method_not_allowed");
}

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof UserError) return new HttpError(400, e.message);
  if (e instanceof QueueFullError) return new HttpError(429, e.message, "rate_limit_error", null, "queue_full");
  return new HttpError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`, "server_error");
}

function accessLine(method: string, path: string, status: number, s: RequestSummary | null, totalMs: number, failure: string): string {
  if (s === null) return `- ${method} ${path} ${status} ${totalMs.toFixed(0)}ms: ${failure}`;
  const ttft = s.timeToFirstTokenMs;
  const decodeMs = ttft === null ? 0 : totalMs - ttft;
  const rate = decodeMs > 0 && s.completionTokens > 1 ? ((s.completionTokens - 1) / decodeMs) * 1000 : 0;
  return (
    `${s.id} ${method} ${path} ${status} prompt=${s.promptTokens} completion=${s.completionTokens} cached=${s.cachedTokens} ` +
    `ttft=${ttft === null ? "-" : ttft.toFixed(0) + "ms"} ${rate.toFixed(1)} tok/s total=${totalMs.toFixed(0)}ms`
  );
}
