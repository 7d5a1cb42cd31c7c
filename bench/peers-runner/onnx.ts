/**
 * onnxruntime-node on the GPT-2 graph with an explicit KV cache (bench/onnx/): prefill with an
 * empty past, then greedy decode feeding present_k/present_v back as the next past.
 *   node dist/bench/peers-runner/onnx.js --model DIR --threads N --prompt-len P --gen G --vocab V
 * DIR holds model.onnx, model.onnx.data and manifest.json (for L, H, D).
 */
import fs from "node:fs";
import path from "node:path";
import { childArgs, measure, report, runChild } from "./child.js";
import { peerModule } from "../../scripts/peers/paths.js";

/** The slice of onnxruntime-node's API this runner uses. */
interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  InferenceSession: {
    create(
      file: string,
      options: { intraOpNumThreads: number; interOpNumThreads: number; executionMode: "sequential"; graphOptimizationLevel: "all" },
    ): Promise<OrtSession>;
  };
  Tensor: {
    new (type: "int64", data: BigInt64Array, dims: number[]): OrtTensor;
    new (type: "float32", data: Float32Array, dims: number[]): OrtTensor;
  };
}

function argmaxLast(logits: OrtTensor): number {
  if (!(logits.data instanceof Float32Array)) throw new Error("logits are not float32");
  const v = logits.dims[logits.dims.length - 1];
  const row = logits.data.subarray(logits.data.length - v);
  let best = 0;
  for (let i = 1; i < v; i++) if (row[i] > row[best]) best = i;
  return best;
}

function output(outputs: Record<string, OrtTensor>, name: string): OrtTensor {
  const t = outputs[name];
  if (t === undefined) throw new Error(`the graph has no output ${name}`);
  return t;
}

runChild("onnx", async () => {
  const args = childArgs();
  const manifest: { L: number; H: number; D: number } = JSON.parse(fs.readFileSync(path.join(args.model, "manifest.json"), "utf8"));
  // A CommonJS package: its exports arrive as the default export.
  const { default: ort }: { default: Ort } = await import(peerModule("onnxruntime-node", "dist", "index.js"));
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(path.join(args.model, "model.onnx"), {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const loadMs = performance.now() - t0;
  const emptyPast = new ort.Tensor("float32", new Float32Array(0), [manifest.L, 1, manifest.H, 0, manifest.D]);
  const ids = (tokens: number[]) => new ort.Tensor("int64", BigInt64Array.from(tokens, BigInt), [1, tokens.length]);

  const timing = await measure(args, async (prompt, gen) => {
    const start = performance.now();
    let out = await session.run({ input_ids: ids(prompt), past_k: emptyPast, past_v: emptyPast });
    let token = argmaxLast(output(out, "logits"));
    const decodeStart = performance.now();
    for (let i = 1; i < gen; i++) {
      out = await session.run({ input_ids: ids([token]), past_k: output(out, "present_k"), past_v: output(out, "present_v") });
      token = argmaxLast(output(out, "logits"));
    }
    return { prefillMs: decodeStart - start, decodeMs: performance.now() - decodeStart };
  });
  await session.release();
  report(args, "onnxruntime", loadMs, timing);
});
