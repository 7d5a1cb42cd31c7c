import type { EngineStats } from "../engine/llm-engine.js";

/** Request counters, and the Prometheus text exposition of them plus the engine's state. */
export class Metrics {
  private readonly requests = new Map<string, number>(); // `${endpoint} ${status}` -> count
  private ttftSumSeconds = 0;
  private ttftCount = 0;

  recordRequest(endpoint: string, status: number, timeToFirstTokenMs: number | null): void {
    const key = `${endpoint} ${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (timeToFirstTokenMs !== null) {
      this.ttftSumSeconds += timeToFirstTokenMs / 1000;
      this.ttftCount++;
    }
  }

  render(engine: EngineStats): string {
    const lines: string[] = [];
    const metric = (name: string, type: "counter" | "gauge" | "summary", help: string, samples: [string, number][]): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
    };
    const b = engine.blocks;
    const requests: [string, number][] = [...this.requests].map(([key, count]) => {
      const [endpoint, status] = key.split(" ");
      return [`{endpoint="${endpoint}",status="${status}"}`, count];
    });
    metric("nanogpt_requests_total", "counter", "HTTP requests by endpoint and status.", requests);
    metric("nanogpt_prompt_tokens_total", "counter", "Prompt tokens queued (once per choice).", [["", engine.promptTokens]]);
    metric("nanogpt_generation_tokens_total", "counter", "Tokens sampled.", [["", engine.generatedTokens]]);
    metric("nanogpt_time_to_first_token_seconds", "summary", "From a request's arrival to its first token.", [
      ["_sum", this.ttftSumSeconds],
      ["_count", this.ttftCount],
    ]);
    metric("nanogpt_queue_length", "gauge", "Sequences waiting for a batch slot or KV blocks.", [["", engine.waiting]]);
    metric("nanogpt_running_sequences", "gauge", "Sequences in the running batch.", [["", engine.running]]);
    metric("nanogpt_preemptions_total", "counter", "Sequences preempted for lack of KV blocks (recomputed later).", [["", engine.preemptions]]);
    metric("nanogpt_engine_steps_total", "counter", "Forward passes run.", [["", engine.steps]]);
    metric("nanogpt_kv_blocks_total", "gauge", `KV cache blocks of ${b.blockSize} positions in the pool.`, [["", b.numBlocks]]);
    metric("nanogpt_kv_blocks_used", "gauge", "KV cache blocks held by sequences.", [["", b.usedBlocks]]);
    metric("nanogpt_kv_blocks_free", "gauge", "KV cache blocks free (cached prefixes included).", [["", b.freeBlocks]]);
    metric("nanogpt_kv_blocks_cached_free", "gauge", "Free KV cache blocks still holding a reusable prefix.", [["", b.cachedFreeBlocks]]);
    metric("nanogpt_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.", [["", b.prefixQueryTokens]]);
    metric("nanogpt_prefix_cache_hits_total", "counter", "Prompt tokens found in the prefix cache (their prefill skipped).", [["", b.prefixHitTokens]]);
    metric("nanogpt_prefix_cache_hit_rate", "gauge", "prefix_cache_hits_total / prefix_cache_queries_total.", [
      ["", b.prefixQueryTokens > 0 ? b.prefixHitTokens / b.prefixQueryTokens : 0],
    ]);
    return lines.join("\n") + "\n";
  }
}
