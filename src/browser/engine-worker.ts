// The engine's Web Worker: downloads (or reads from the cache) a model, loads it onto the wasm
// backend and generates. It runs off the page's thread because the kernels block while they
// wait for each other (Atomics.wait), which a page's main thread may not do.
import { UserError } from "../errors.js";
import { memoryFolder } from "../io/folder.js";
import { fetchModelFiles, locateModel } from "./model-files.js";
import { openFolder, openGGUF, type OpenedModel } from "./open.js";
import type { EngineReply, EngineRequest, LoadRequest } from "./protocol.js";
import { Session } from "./session.js";

let session: Session | null = null;

function reply(message: EngineReply): void {
  self.postMessage(message);
}

async function load(request: LoadRequest): Promise<void> {
  session?.close();
  session = null;
  const location = locateModel(request.source, self.location.href);
  const { files, downloadedBytes, notCached } = await fetchModelFiles(location, (progress) => reply({ type: "progress", progress }));
  let opened: OpenedModel;
  if (location.kind === "gguf") {
    const [name, data] = [...files][0];
    opened = openGGUF(location.url.endsWith(name) ? location.url : name, data);
  } else {
    opened = openFolder(memoryFolder(location.url, files));
  }
  session = await Session.start(opened, request.threads);
  reply({
    type: "loaded",
    info: {
      source: request.source,
      summary: opened.spec.summary,
      backend: session.backend.name,
      threads: session.backend.threads,
      dtype: session.dtype,
      contextLength: session.contextLength,
      bytes: [...files.values()].reduce((n, b) => n + b.length, 0),
      downloadedBytes,
      notCached,
    },
  });
}

async function handle(request: EngineRequest): Promise<void> {
  switch (request.type) {
    case "load":
      return load(request);
    case "generate": {
      if (session === null) throw new UserError("no model is loaded");
      const stats = session.generate(request.prompt, { maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed, ignoreEos: request.ignoreEos }, (text) => reply({ type: "piece", text }));
      reply({ type: "done", stats });
      return;
    }
  }
}

// One request at a time, in order: a generation never overlaps a load.
let queue = Promise.resolve();
self.onmessage = (e: MessageEvent<EngineRequest>) => {
  queue = queue.then(() =>
    handle(e.data).catch((err: unknown) => {
      const message = err instanceof UserError || err instanceof Error ? err.message : String(err);
      reply({ type: "error", message: message.split("\n")[0] });
    }),
  );
};
