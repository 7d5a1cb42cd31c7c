// The demo page: loads a model into the engine's worker and streams generations into #output.
import { BrowserLLM, defaultThreads } from "/lib/browser/index.js";

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("model-form"), model: $("model"), load: $("load"), progress: $("progress"), status: $("model-status"), error: $("error"),
  prompt: $("prompt"), maxTokens: $("max-tokens"), temperature: $("temperature"), generate: $("generate"), output: $("output"), stats: $("stats"),
};

let llm = null;
const threads = defaultThreads();
const isolation = crossOriginIsolated ? "" : " (one thread: the page is not cross-origin isolated)";

function setState(state) {
  document.body.dataset.state = state;
  ui.generate.disabled = state !== "ready";
  ui.load.disabled = state === "loading" || state === "generating";
}

function showError(message) {
  ui.error.textContent = message.split("\n")[0];
  ui.error.hidden = false;
}

function megabytes(n) {
  return `${(n / 1e6).toFixed(1)} MB`;
}

async function load(source) {
  setState("loading");
  ui.error.hidden = true;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = `Loading ${source}…`;
  llm?.close();
  llm = null;
  try {
    llm = await BrowserLLM.load(source, {
      threads,
      onProgress: (p) => {
        ui.progress.value = p.total ? p.loaded / p.total : 0;
        ui.status.textContent = `${p.cached ? "Reading" : "Downloading"} ${p.file}: ${megabytes(p.loaded)}${p.total ? ` of ${megabytes(p.total)}` : ""}`;
      },
    });
    const i = llm.info;
    const from = i.downloadedBytes === 0 ? "from the browser cache" : i.downloadedBytes >= i.bytes ? "downloaded" : `${megabytes(i.downloadedBytes)} downloaded`;
    ui.status.textContent = `${i.source} — ${i.summary}; ${i.dtype} weights (${megabytes(i.bytes)} ${from})${i.notCached ? `; ${i.notCached}` : ""}`;
    ui.stats.textContent = `threads ${i.threads}${isolation}`;
    setState("ready");
  } catch (e) {
    ui.status.textContent = `Could not load ${source}.`;
    showError(e instanceof Error ? e.message : String(e));
    setState("error");
  } finally {
    ui.progress.hidden = true;
  }
}

async function generate() {
  if (llm === null) return;
  setState("generating");
  ui.error.hidden = true;
  ui.output.textContent = "";
  ui.stats.textContent = `threads ${llm.info.threads} · generating…`;
  try {
    const s = await llm.generate(ui.prompt.value, {
      maxTokens: Number(ui.maxTokens.value),
      temperature: Number(ui.temperature.value),
      onPiece: (text) => ui.output.append(text),
    });
    ui.stats.textContent = `threads ${llm.info.threads} · prefill ${s.prefillTokensPerSecond.toFixed(0)} tok/s · decode ${s.decodeTokensPerSecond.toFixed(0)} tok/s · ${s.generatedTokens} tokens${isolation}`;
  } catch (e) {
    showError(e instanceof Error ? e.message : String(e));
  }
  setState("ready");
}

ui.generate.addEventListener("click", generate);
ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const source = ui.model.value.trim();
  if (source !== "") {
    history.replaceState(null, "", `?model=${encodeURIComponent(source)}`);
    void load(source);
  }
});

const asked = new URLSearchParams(location.search).get("model");
const fallback = await fetch("default-model.json").then((r) => r.json()).catch(() => ({ source: "/model/" }));
ui.model.value = asked ?? fallback.source;
void load(asked ?? fallback.source);
