// The demo page: loads a model into the engine's worker, then completes text (#output) or, for a
// model with a chat template, chats (#messages) through the engine's conversation.
import { BrowserLLM, defaultThreads } from "/lib/browser/index.js";

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("model-form"), picker: $("model-picker"), embedded: $("embedded-option"), model: $("model"), load: $("load"),
  progress: $("progress"), status: $("model-status"), error: $("error"),
  modes: $("modes"), maxTokens: $("max-tokens"), temperature: $("temperature"),
  prompt: $("prompt"), generate: $("generate"), output: $("output"),
  chatView: $("chat-view"), completeView: $("complete-view"), system: $("system"), systemHint: $("system-hint"),
  messages: $("messages"), note: $("chat-note"), chatForm: $("chat-form"), message: $("message"), send: $("send"), reset: $("reset"),
  stats: $("stats"), stop: $("stop"),
};

let llm = null;
/** The exchanges on screen, oldest first: { user, assistant } bubbles; `dropped` ones the model no longer sees. */
let exchanges = [];
const threads = defaultThreads();
const isolation = crossOriginIsolated ? "" : " (one thread: the page is not cross-origin isolated)";

function setState(state) {
  document.body.dataset.state = state;
  const busy = state === "loading" || state === "generating";
  ui.generate.disabled = state !== "ready";
  ui.send.disabled = state !== "ready";
  ui.reset.disabled = busy || llm === null;
  ui.load.disabled = busy;
  ui.picker.disabled = busy;
  ui.stop.hidden = state !== "generating";
  for (const tab of ui.modes.querySelectorAll("button")) tab.disabled = busy;
}

function setMode(mode) {
  document.body.dataset.mode = mode;
  ui.chatView.hidden = mode !== "chat";
  ui.completeView.hidden = mode !== "complete";
  for (const tab of ui.modes.querySelectorAll("button")) tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
}

function showError(message) {
  ui.error.textContent = message.split("\n")[0];
  ui.error.hidden = false;
}

const errorText = (e) => (e instanceof Error ? e.message : String(e));
const megabytes = (n) => `${(n / 1e6).toFixed(1)} MB`;
const speeds = (s) => `threads ${llm.info.threads} · prefill ${s.prefillTokensPerSecond.toFixed(0)} tok/s · decode ${s.decodeTokensPerSecond.toFixed(0)} tok/s · ${s.generatedTokens} tokens`;
const simd = () => `${llm.info.simd} SIMD`;

async function load(source) {
  setState("loading");
  ui.error.hidden = true;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = `Loading ${source}…`;
  llm?.close();
  llm = null;
  clearChat();
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
    const chat = i.chatError ? `; no chat: ${i.chatError}` : "";
    ui.status.textContent = `${i.source} — ${i.summary}; ${i.dtype} weights (${megabytes(i.bytes)} ${from})${i.notCached ? `; ${i.notCached}` : ""}${chat}`;
    ui.stats.textContent = `threads ${i.threads} · ${simd()}${isolation}`;
    // A reply must leave room for a prompt.
    ui.maxTokens.max = String(i.contextLength - 1);
    if (Number(ui.maxTokens.value) >= i.contextLength) ui.maxTokens.value = String(Math.floor(i.contextLength / 2));
    ui.modes.hidden = !i.chatTemplate;
    setMode(i.chatTemplate ? "chat" : "complete");
    setState("ready");
  } catch (e) {
    ui.status.textContent = `Could not load ${source}.`;
    ui.modes.hidden = true;
    setMode("complete");
    showError(errorText(e));
    setState("error");
  } finally {
    ui.progress.hidden = true;
  }
}

function sampling(onPiece) {
  return { maxTokens: Number(ui.maxTokens.value), temperature: Number(ui.temperature.value), onPiece };
}

async function generate() {
  if (llm === null) return;
  setState("generating");
  ui.error.hidden = true;
  ui.output.textContent = "";
  ui.stats.textContent = `threads ${llm.info.threads} · generating…`;
  try {
    const s = await llm.generate(ui.prompt.value, sampling((text) => ui.output.append(text)));
    ui.stats.textContent = `${speeds(s)}${s.finishReason === "aborted" ? " · stopped" : ""} · ${simd()}${isolation}`;
  } catch (e) {
    showError(errorText(e));
  }
  setState("ready");
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `bubble ${role}`;
  div.textContent = text;
  ui.messages.append(div);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  return div;
}

function clearChat() {
  exchanges = [];
  ui.messages.replaceChildren();
  delete ui.messages.dataset.promptIds;
  ui.note.hidden = true;
  ui.system.disabled = false;
  ui.systemHint.hidden = true;
}

async function send() {
  const message = ui.message.value.trim();
  if (llm === null || message === "" || document.body.dataset.state !== "ready") return;
  setState("generating");
  ui.error.hidden = true;
  const exchange = { user: bubble("user", message), assistant: bubble("assistant pending", "") };
  ui.message.value = "";
  ui.system.disabled = true;
  ui.systemHint.hidden = false;
  ui.stats.textContent = `threads ${llm.info.threads} · replying…`;
  try {
    const system = ui.system.value.trim();
    const reply = await llm.chat(message, {
      system: system === "" ? null : system,
      ...sampling((text) => {
        exchange.assistant.append(text);
        ui.messages.scrollTop = ui.messages.scrollHeight;
      }),
    });
    exchange.assistant.classList.remove("pending");
    if (reply.finishReason === "aborted") exchange.assistant.dataset.stopped = "";
    exchanges.push(exchange);
    ui.messages.dataset.promptIds = JSON.stringify(reply.promptIds);
    if (reply.dropped > 0) dropOldest(reply.dropped);
    const reused = reply.reusedTokens > 0 ? ` (${reply.reusedTokens} cached)` : "";
    ui.stats.textContent = `${speeds(reply)} · prompt ${reply.promptTokens} tokens${reused}${reply.finishReason === "aborted" ? " · stopped" : ""} · ${simd()}${isolation}`;
  } catch (e) {
    // Refused before generating (too long for the context): the message never joined the conversation.
    if (exchange.assistant.textContent === "") {
      exchange.user.remove();
      exchange.assistant.remove();
      ui.message.value = message;
      if (exchanges.length === 0) clearChat();
    }
    showError(errorText(e));
  }
  setState("ready");
}

/** Greys out the `count` oldest exchanges still in the context, which the engine just dropped. */
function dropOldest(count) {
  const kept = exchanges.filter((x) => !x.dropped);
  for (const x of kept.slice(0, count)) {
    x.dropped = true;
    x.user.classList.add("dropped");
    x.assistant.classList.add("dropped");
  }
  const total = exchanges.filter((x) => x.dropped).length;
  ui.note.textContent = `The context is full: the ${total === 1 ? "oldest exchange is" : `${total} oldest exchanges are`} no longer shown to the model (greyed out). The system prompt stays.`;
  ui.note.hidden = false;
}

async function reset() {
  if (llm === null) return;
  // The engine handles requests in order, so a message sent next goes to the new conversation.
  const done = llm.resetChat();
  clearChat();
  ui.error.hidden = true;
  ui.message.focus();
  await done.catch((e) => showError(errorText(e)));
}

ui.generate.addEventListener("click", generate);
ui.chatForm.addEventListener("submit", (e) => {
  e.preventDefault();
  void send();
});
ui.message.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    void send();
  }
});
ui.reset.addEventListener("click", () => void reset());
ui.stop.addEventListener("click", () => llm?.stop());
for (const tab of ui.modes.querySelectorAll("button")) tab.addEventListener("click", () => setMode(tab.dataset.mode));

function pick(source) {
  ui.model.value = source;
  ui.picker.value = [...ui.picker.options].some((o) => o.value === source) ? source : "other";
  history.replaceState(null, "", `?model=${encodeURIComponent(source)}`);
  void load(source);
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  const source = ui.model.value.trim();
  if (source !== "") pick(source);
});
ui.picker.addEventListener("change", () => {
  if (ui.picker.value === "other") {
    ui.model.value = "";
    ui.model.focus();
  } else pick(ui.picker.value);
});

const asked = new URLSearchParams(location.search).get("model");
const fallback = await fetch("default-model.json").then((r) => r.json()).catch(() => ({ source: "/model/" }));
ui.embedded.value = fallback.source;
if (fallback.name) ui.embedded.textContent = `Default: ${fallback.name}`;
const first = asked ?? fallback.source;
ui.model.value = first;
ui.picker.value = [...ui.picker.options].some((o) => o.value === first) ? first : "other";
void load(first);
