import { Template } from "@huggingface/jinja";
import { UserError } from "../errors.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { HttpError } from "./errors.js";

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

/** Turns chat messages into prompt text, the way the model was trained to see them. */
export class ChatFormatter {
  private readonly template: Template | null;

  constructor(private readonly tokenizer: Tokenizer) {
    const source = tokenizer.chatTemplate;
    if (source === null) {
      this.template = null;
      return;
    }
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new UserError(`the model's chat_template does not parse: ${(e as Error).message}`);
    }
  }

  get usesFallback(): boolean {
    return this.template === null;
  }

  /** The prompt, and stop strings the format implies. */
  render(messages: readonly ChatMessage[]): { text: string; stop: string[] } {
    if (this.template === null) return { text: fallback(messages), stop: [FALLBACK_STOP] };
    try {
      const text = this.template.render({
        messages,
        add_generation_prompt: true,
        bos_token: this.tokenizer.bosToken ?? "",
        eos_token: this.tokenizer.eosToken ?? "",
      });
      return { text, stop: [] };
    } catch (e) {
      // Templates reject what they cannot express (raise_exception), e.g. roles out of order.
      throw new HttpError(400, `the chat template rejected the messages: ${(e as Error).message}`, "invalid_request_error", "messages");
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
