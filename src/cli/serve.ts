import { parseArgs } from "node:util";
import { LLMEngine } from "../engine/llm-engine.js";
import { UserError } from "../errors.js";
import { startServer } from "../server/server.js";
import { intFlag, loadOptions, modelOptions, modelSource, numberFlag, stringFlag, type FlagValues, type Command } from "./options.js";

export const serveHelp = `nanogpt-infer serve [options]   OpenAI-compatible HTTP server with continuous batching
  --model DIR|FILE.gguf|org/name   model (default: the embedded shakespeare-byte-gpt2)
  --host H            address to listen on (default 127.0.0.1: this machine only)
  --port P            port (default 8080; 0 picks a free one)
  --api-key KEY       require "Authorization: Bearer KEY" on /v1/* (default: $NANOGPT_API_KEY, else none);
                      /health and /metrics stay open
  --allowed-origins LIST   comma-separated origins (https://app.example) whose web pages may call
                      the server (CORS), or * for any (default: none)
  --served-model-name NAME   the model id clients use (default: the model folder's name)
  --max-batch N       sequences decoded together at most (default 64)
  --kv-memory MB      KV cache pool size (default: max-batch full contexts, at most 1024 MB)
  --kv-dtype f32|f16  KV cache elements (default f32); f16 holds twice the tokens in the same memory
  --block-size N      positions per KV block (default 16)
  --max-step-tokens N tokens per forward pass, decode + prefill chunks (default 256)
  --max-queue N       waiting sequences at most; beyond, requests get 429 (default 1024)
  --max-body MB       largest request body (default 1)
  --no-prefix-cache   do not reuse the KV blocks of repeated prompt prefixes
  --quiet             no per-request log lines
  --backend wasm|reference  --threads N  --dtype f32|f16|q8|q5|q4  --simd auto|relaxed|baseline
endpoints: POST /v1/completions, POST /v1/chat/completions, GET /v1/models, GET /health, GET /metrics`;

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...modelOptions,
      host: { type: "string" },
      port: { type: "string" },
      "api-key": { type: "string" },
      "allowed-origins": { type: "string" },
      "served-model-name": { type: "string" },
      "max-batch": { type: "string" },
      "kv-memory": { type: "string" },
      "block-size": { type: "string" },
      "max-step-tokens": { type: "string" },
      "max-queue": { type: "string" },
      "max-body": { type: "string" },
      "no-prefix-cache": { type: "boolean" },
    },
  });
  const flags: FlagValues = values;
  const port = intFlag(flags, "port", 0) ?? 8080;
  if (port > 65535) throw new UserError(`--port must be at most 65535, got ${port}`);
  const maxBodyMB = numberFlag(flags, "max-body") ?? 1;
  if (!(maxBodyMB > 0)) throw new UserError(`--max-body must be > 0, got ${maxBodyMB}`);
  const kvMemoryMB = numberFlag(flags, "kv-memory");
  if (kvMemoryMB !== undefined && !(kvMemoryMB > 0)) throw new UserError(`--kv-memory must be > 0, got ${kvMemoryMB}`);
  const allowedOrigins = parseOrigins(stringFlag(flags, "allowed-origins"));
  const quiet = values.quiet === true;
  const log = (line: string): void => {
    process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  };

  const engine = await LLMEngine.load(modelSource(flags), {
    ...loadOptions(flags),
    maxBatch: intFlag(flags, "max-batch", 1),
    kvMemoryMB,
    blockSize: intFlag(flags, "block-size", 1),
    maxStepTokens: intFlag(flags, "max-step-tokens", 1),
    maxQueue: intFlag(flags, "max-queue", 1),
    prefixCaching: values["no-prefix-cache"] !== true,
    modelName: stringFlag(flags, "served-model-name"),
  });
  // A bug in one request must not take every other client down with the process.
  process.on("unhandledRejection", (e) => log(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));

  const server = await startServer({
    engine,
    host: stringFlag(flags, "host") ?? "127.0.0.1",
    port,
    apiKey: stringFlag(flags, "api-key") ?? process.env.NANOGPT_API_KEY ?? null,
    maxBodyBytes: Math.floor(maxBodyMB * 2 ** 20),
    allowedOrigins,
    log,
    logRequests: !quiet,
  });
  const b = engine.blocks.stats();
  log(
    `serving ${engine.modelName} on ${server.url} (backend ${engine.backend.name}, max batch ${engine.maxBatch}, ` +
      `KV pool ${b.numBlocks} blocks × ${b.blockSize} positions = ${b.numBlocks * b.blockSize} tokens of ${engine.cache.dtype})`,
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: shutting down`);
      server.close().then(resolve, resolve);
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  engine.close();
}

/** "https://a.example, http://localhost:3000" or "*"; each must be an origin exactly as browsers send it. */
export function parseOrigins(list: string | undefined): string[] {
  if (list === undefined) return [];
  const origins = list
    .split(",")
    .map((o) => o.trim())
    .filter((o) => o !== "");
  for (const o of origins) {
    if (o === "*") continue;
    let origin: string | null = null;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = null;
    }
    if (origin !== o) throw new UserError(`--allowed-origins: ${JSON.stringify(o)} is not an origin like https://app.example or http://localhost:3000 (scheme://host[:port], no path or trailing slash), nor *`);
  }
  return origins;
}

export const command: Command = { run: serveCommand, help: serveHelp };
