/**
 * llama.cpp through node-llama-cpp (its prebuilt CPU binary) on a GGUF written by
 * `nanogpt-infer convert`: the prompt is evaluated in one batch, then tokens are decoded greedily
 * one at a time through the sequence's evaluate() generator. Only the threads (ours), the context
 * and the batch are set: the KV cache type (F16) and flash attention ("auto") stay llama.cpp's
 * defaults, as its users run it.
 *   node dist/bench/peers-runner/llama-cpp.js --model FILE.gguf --threads N --prompt-len P --gen G --vocab V
 */
import { childArgs, measure, medianTiming, report, runChild, type Timing } from "./child.js";
import { peerModule } from "../../scripts/peers/paths.js";
import type { NodeLlamaCpp } from "../../scripts/peers/llama-api.js";

runChild("llama-cpp", async () => {
  const args = childArgs();
  const { getLlama }: NodeLlamaCpp = await import(peerModule("node-llama-cpp", "dist", "index.js"));
  let logLines: string[] = [];
  const logger = (level: string, message: string) => {
    if (level === "error" || level === "fatal") process.stderr.write(`${message}\n`);
    logLines.push(message);
  };
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "info", logger, maxThreads: args.threads });
  const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: args.promptLen + args.gen,
    // The whole prompt in one batch, as the engine and onnxruntime take it.
    batchSize: Math.max(128, args.promptLen),
    sequences: 1,
    threads: { ideal: args.threads, min: args.threads },
    performanceTracking: true,
  });
  const loadMs = performance.now() - t0;
  const sequence = context.getSequence();
  /** llama.cpp's own cumulative counters (llama_perf_context_print), which leave out node-llama-cpp's JS and sampling. */
  const counters = async () => {
    logLines = [];
    await context.printTimings();
    const find = (label: string) => {
      const m = logLines.map((l) => new RegExp(`:\\s+${label} time =\\s*([\\d.]+) ms /\\s*(\\d+)`).exec(l)).find((x) => x !== null);
      return m ? { ms: Number(m[1]), n: Number(m[2]) } : { ms: NaN, n: NaN };
    };
    return { prompt: find("prompt eval"), eval: find("eval") };
  };
  const own: Timing[] = [];

  const timing = await measure(args, async (prompt, gen) => {
    await sequence.clearHistory();
    const before = await counters();
    const start = performance.now();
    let decodeStart = start;
    let n = 0;
    // Like the engine's --ignore-eos: an end-of-text token must not end the run early.
    for await (const _token of sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
      if (++n === 1) decodeStart = performance.now();
      if (n >= gen) break;
    }
    const end = performance.now();
    if (n < gen) throw new Error(`llama.cpp stopped after ${n} of ${gen} tokens`);
    const after = await counters();
    own.push({ prefillMs: after.prompt.ms - before.prompt.ms, decodeMs: after.eval.ms - before.eval.ms });
    return { prefillMs: decodeStart - start, decodeMs: end - decodeStart };
  });
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  // The warm-up runs come first in own; the measured runs follow.
  report(args, "llama.cpp", loadMs, timing, medianTiming(own.slice(args.warmup)));
});
