/**
 * The one error envelope every API answers with:
 *   { "error": { "code": "RISK_MAX_POSITION", "message": "…", "details": {…} } }
 * Throw an AppError anywhere in a request and the service base turns it into that envelope.
 */
export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }

  toEnvelope(): ErrorEnvelope {
    return {
      error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) },
    };
  }
}

export const badRequest = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(400, code, message, details);
export const notFound = (what: string, id: string) =>
  new AppError(404, 'NOT_FOUND', `${what} '${id}' not found`, { id });
export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(409, code, message, details);
export const unavailable = (code: string, message: string, details?: Record<string, unknown>) =>
  new AppError(503, code, message, details);
