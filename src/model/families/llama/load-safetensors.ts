import { UserError } from "../../../errors.js";
import { TensorReader, type TensorInfo } from "../../../io/safetensors-parse.js";
import type { Folder } from "../../../io/folder.js";
import type { Backend } from "../../../kernels/backend.js";
import { listCheckpointTensors } from "../../checkpoint.js";
import { HFTensors } from "../../layers/hf-tensors.js";
import { ropeTables } from "../../layers/rope.js";
import type { WeightDType } from "../../matrix.js";
import type { LlamaConfig } from "./config.js";
import type { LlamaBlockWeights, LlamaWeights } from "./weights.js";

/**
 * Loads a Hugging Face LlamaForCausalLM / Qwen2ForCausalLM / Qwen3ForCausalLM checkpoint
 * (model.layers.N.self_attn.q_proj.weight, ...), stacking q, k, v and gate, up as it goes.
 */
/**
 * The tensors every config dimension shows in, checked before anything is allocated: a config
 * saying intermediate_size 1e12 must be named, not turned into a giant allocation.
 */
export function checkLlamaTensors(folder: Folder, c: LlamaConfig, tensors: ReadonlyMap<string, TensorInfo> = listCheckpointTensors(folder)): void {
  const dir = folder.where;
  const { hidden: C, intermediate: I, vocabSize: V, nLayer: L } = c;
  const { nHead: nh, headDim: hs } = c.heads;
  const check = (name: string, shape: readonly number[]): void => {
    const t = tensors.get(name);
    if (t === undefined) throw new UserError(`${dir}: tensor ${name} is missing from the checkpoint`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${dir}: tensor ${name} has shape [${t.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
  };
  check("model.embed_tokens.weight", [V, C]);
  check("model.layers.0.self_attn.q_proj.weight", [nh * hs, C]);
  check("model.layers.0.mlp.gate_proj.weight", [I, C]);
  check(`model.layers.${L - 1}.input_layernorm.weight`, [C]);
}

export function loadLlamaSafetensors(folder: Folder, c: LlamaConfig, backend: Backend, dtype: WeightDType): LlamaWeights {
  const reader = new TensorReader();
  try {
    const tensors = listCheckpointTensors(folder);
    checkLlamaTensors(folder, c, tensors);
    const dir = folder.where;
    const t = new HFTensors(dir, tensors, reader, backend, dtype);
    const { hidden: C, intermediate: I, vocabSize: V } = c;
    const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
    const qkvRows = [nh * hs, nkv * hs, nkv * hs];
    const blocks: LlamaBlockWeights[] = [];
    for (let l = 0; l < c.nLayer; l++) {
      const p = `model.layers.${l}`;
      const attn = ["q", "k", "v"].map((x) => `${p}.self_attn.${x}_proj`);
      const mlp = ["gate", "up"].map((x) => `${p}.mlp.${x}_proj`);
      blocks.push({
        attnNorm: t.vector(`${p}.input_layernorm.weight`, C),
        qkv: t.stacked(attn.map((n) => `${n}.weight`), qkvRows, C),
        qkvBias: c.qkvBias ? t.stackedVector(attn.map((n) => `${n}.bias`), qkvRows) : null,
        qNorm: c.qkNorm ? t.vector(`${p}.self_attn.q_norm.weight`, hs) : null,
        kNorm: c.qkNorm ? t.vector(`${p}.self_attn.k_norm.weight`, hs) : null,
        o: t.matrix(`${p}.self_attn.o_proj.weight`, C, nh * hs),
        oBias: c.outputBias ? t.vector(`${p}.self_attn.o_proj.bias`, C) : null,
        mlpNorm: t.vector(`${p}.post_attention_layernorm.weight`, C),
        gateUp: t.stacked(mlp.map((n) => `${n}.weight`), [I, I], C),
        gateUpBias: c.mlpBias ? t.stackedVector(mlp.map((n) => `${n}.bias`), [I, I]) : null,
        down: t.matrix(`${p}.mlp.down_proj.weight`, C, I),
        downBias: c.mlpBias ? t.vector(`${p}.mlp.down_proj.bias`, C) : null,
      });
    }
    const layers = new Set([...tensors.keys()].map((k) => /^model\.layers\.(\d+)\./.exec(k)?.[1]).filter((x) => x !== undefined));
    if (layers.size > c.nLayer) throw new UserError(`${dir}: checkpoint has ${layers.size} layers but config.json says num_hidden_layers ${c.nLayer}`);
    const embed = t.matrix("model.embed_tokens.weight", V, C);
    if (!c.tieWordEmbeddings && !t.has("lm_head.weight")) throw new UserError(`${dir}: tie_word_embeddings is false but lm_head.weight is missing`);
    const lmHead = c.tieWordEmbeddings ? embed : t.matrix("lm_head.weight", V, C);
    return { embed, blocks, norm: t.vector("model.norm.weight", C), lmHead, rope: ropeTables(backend, hs, c.contextLength, c.rope) };
  } finally {
    reader.close();
  }
}
