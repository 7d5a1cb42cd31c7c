import { Template } from "@huggingface/jinja";
import { UserError } from "../errors.js";
import type { Tokenizer } from "../tokenizer/index.js";

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

/**
 * Used when the tokenizer ships no chat_template (GPT-2 and other base models): each message
 * becomes "Role: content" followed by a blank line, and the prompt ends with "Assistant:".
 * A base model then tends to write the user's next turn itself, so generation also stops at
 * "\nUser:".
 */
export const FALLBACK_STOP = "\nUser:";

/** The template rejected the messages (raise_exception) or failed while rendering them. */
export class ChatTemplateError extends UserError {}

/**
 * The model's chat template (tokenizer_config.json's chat_template, chat_template.jinja, or GGUF
 * tokenizer.chat_template, as the tokenizer read them), compiled once, rendered with what
 * transformers.js's apply_chat_template passes: the messages, add_generation_prompt, tools and
 * documents as null, and the special tokens the tokenizer names.
 */
export class ChatTemplate {
  private readonly template: Template | null;
  private readonly specialTokens: Record<string, string>;

  constructor(tokenizer: Pick<Tokenizer, "chatTemplate" | "bosToken" | "eosToken">) {
    const source = tokenizer.chatTemplate;
    const tokens: Record<string, string> = {};
    // transformers.js leaves a token the config does not name out of the context (undefined, not "").
    if (tokenizer.bosToken !== null) tokens.bos_token = tokenizer.bosToken;
    if (tokenizer.eosToken !== null) tokens.eos_token = tokenizer.eosToken;
    this.specialTokens = tokens;
    if (source === null) {
      this.template = null;
      return;
    }
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new UserError(`the model's chat_template does not parse: ${oneLine(e)}`);
    }
  }

  get usesFallback(): boolean {
    return this.template === null;
  }

  /** The prompt text for the assistant's next message, and the stop strings the format implies. */
  render(messages: readonly ChatMessage[]): { text: string; stop: string[] } {
    if (this.template === null) return { text: fallback(messages), stop: [FALLBACK_STOP] };
    try {
      const text = this.template.render({ messages, add_generation_prompt: true, tools: null, documents: null, ...this.specialTokens });
      return { text, stop: [] };
    } catch (e) {
      // Templates reject what they cannot express (raise_exception), e.g. roles out of order.
      throw new ChatTemplateError(`the chat template rejected the messages: ${oneLine(e)}`);
    }
  }
}

function fallback(messages: readonly ChatMessage[]): string {
  let text = "";
  for (const m of messages) {
    const role = m.role === "developer" ? "System" : m.role.charAt(0).toUpperCase() + m.role.slice(1);
    text += `${role}: ${m.content}\n\n`;
  }
  return text + "Assistant:";
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").trim();
}
