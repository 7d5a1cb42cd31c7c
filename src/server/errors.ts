/** An error with an HTTP status, sent as OpenAI's error body: {error: {message, type, param, code}}. */
export class HttpError extends Error {
  override readonly name = "HttpError";

  constructor(
    readonly status: number,
    message: string,
    readonly type: string = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(e: HttpError): ErrorBody {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
}

/** A 400 naming the request field at fault. */
export function badParam(param: string, message: string): HttpError {
  return new HttpError(400, message, "invalid_request_error", param, null);
}
