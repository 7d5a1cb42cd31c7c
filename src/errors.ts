/**
 * An error caused by the user's input (a bad file, a wrong parameter): the CLI prints its
 * one-line message and exits non-zero, the server turns it into a 4xx. Anything else is a bug.
 */
export class UserError extends Error {
  override readonly name = "UserError";
}
