// The Matrix error: { errcode, error, ...extra } with an HTTP status.
// spec: client-server-api "Standard error response"

export class MatrixError extends Error {
  constructor(
    readonly errcode: string,
    message: string,
    readonly status = 400,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'MatrixError';
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const forbidden = (msg: string, extra?: Record<string, unknown>) => new MatrixError('M_FORBIDDEN', msg, 403, extra);
export const badJson = (msg: string) => new MatrixError('M_BAD_JSON', msg, 400);
export const missingParam = (msg: string) => new MatrixError('M_MISSING_PARAM', msg, 400);
export const invalidParam = (msg: string) => new MatrixError('M_INVALID_PARAM', msg, 400);
export const notFound = (msg: string) => new MatrixError('M_NOT_FOUND', msg, 404);
export const unrecognized = (msg: string, status = 404) => new MatrixError('M_UNRECOGNIZED', msg, status);
export const unknownToken = (msg: string, softLogout = false) =>
  new MatrixError('M_UNKNOWN_TOKEN', msg, 401, { soft_logout: softLogout });
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError('M_LIMIT_EXCEEDED', 'Too many requests', 429, { retry_after_ms: retryAfterMs });
