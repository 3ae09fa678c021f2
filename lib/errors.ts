// Every failure the user can cause carries a stable `code` and one sentence naming what failed,
// so the CLI can print it and exit non-zero, and embedding tools can branch on the code.
export class DebiasError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DebiasError";
    this.code = code;
  }
}

export function isDebiasError(err: unknown): err is DebiasError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "string";
}
