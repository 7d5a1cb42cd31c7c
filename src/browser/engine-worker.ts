// The engine's Web Worker: downloads (or reads from the cache) a model, loads it onto the wasm
// backend and generates. It runs off the page's thread because the kernels block while they
// wait for each other (Atomics.wait), which a page's main thread may not do.
import { UserError } from "../errors.js";
import { checkContextLength } from "../engine/prompt-checks.js";
import type { ByteSource } from "../io/byte-source.js";
import { memoryFolder } from "../io/folder.js";
import { fittingDType } from "./memory.js";
import { fetchModelFiles, locateModel, type ModelLocation } from "./model-files.js";
import { openFolder, openGGUF, type OpenedModel } from "./open.js";
import type { EngineReply, EngineRequest, LoadRequest, Progress } from "./protocol.js";
import { Session } from "./session.js";
import type { SessionChat } from "./chat.js";

let session: Session | null = null;
let chat: SessionChat | null = null;
/** The running generation's, which a stop request aborts. */
let running: AbortController | null = null;

function reply(message: EngineReply): void {
  self.postMessage(message);
}

async function load(request: LoadRequest): Promise<void> {
  session?.close();
  session = null;
  chat = null;
  const location = locateModel(request.source, self.location.href);
  const progress = (p: Progress) => reply({ type: "progress", progress: p });
  // Refuses a model too large for wasm memory from its headers, before the weights download.
  const precheck = (headers: ReadonlyMap<string, ByteSource>) => {
    const { spec, storage } = open(location, headers);
    fittingDType(spec, checkContextLength(undefined, spec.shape), storage);
  };
  const { files, downloadedBytes, notCached } = await fetchModelFiles(location, progress, precheck);
  const opened = open(location, files);
  session = await Session.start(opened, request.threads, request.simd);
  let chatError: string | null = null;
  try {
    // Imported here, so that a page whose server cannot resolve @huggingface/jinja still completes text.
    const { SessionChat } = await import("./chat.js");
    chat = new SessionChat(session);
  } catch (e) {
    // The template does not parse, or the chat modules did not load: only chat is off.
    chatError = (e instanceof Error ? e.message : String(e)).split("\n")[0];
  }
  reply({
    type: "loaded",
    info: {
      source: request.source,
      summary: opened.spec.summary,
      backend: session.backend.name,
      threads: session.backend.threads,
      simd: session.simd,
      dtype: session.dtype ?? "as stored",
      contextLength: session.contextLength,
      chatTemplate: chat?.hasTemplate ?? false,
      chatError,
      bytes: [...files.values()].reduce((n, s) => n + s.size, 0),
      downloadedBytes,
      notCached,
    },
  });
}

function open(location: ModelLocation, files: ReadonlyMap<string, ByteSource>): OpenedModel {
  if (location.kind === "folder") return openFolder(memoryFolder(location.url, files));
  const source = [...files.values()][0];
  if (source === undefined) throw new UserError(`${location.url}: nothing downloaded`);
  return openGGUF(source);
}

function loaded(): Session {
  if (session === null) throw new UserError("no model is loaded");
  return session;
}

/** Runs one generation with a fresh abort controller for stop requests to find. */
async function stoppable<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  running = new AbortController();
  try {
    return await run(running.signal);
  } finally {
    running = null;
  }
}

const piece = (text: string) => reply({ type: "piece", text });

async function handle(request: Exclude<EngineRequest, { type: "stop" }>): Promise<void> {
  switch (request.type) {
    case "load":
      return load(request);
    case "generate": {
      const s = loaded();
      const stats = await stoppable((signal) => s.generate(request.prompt, { maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed, ignoreEos: request.ignoreEos }, piece, signal));
      reply({ type: "done", stats });
      return;
    }
    case "chat": {
      loaded();
      if (chat === null) throw new UserError("this model's chat template cannot be used: see the load message");
      const c = chat;
      reply({ type: "chat-done", reply: await stoppable((signal) => c.reply(request, piece, signal)) });
      return;
    }
    case "reset":
      chat?.reset();
      reply({ type: "reset-done" });
      return;
  }
}

// One request at a time, in order: a generation never overlaps a load.
let queue = Promise.resolve();
self.onmessage = (e: MessageEvent<EngineRequest>) => {
  const request = e.data;
  if (request.type === "stop") return running?.abort();
  queue = queue.then(() =>
    handle(request).catch((err: unknown) => {
      const message = err instanceof UserError || err instanceof Error ? err.message : String(err);
      reply({ type: "error", message: message.split("\n")[0] });
    }),
  );
};
