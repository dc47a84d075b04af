// User-interactive authentication (spec: client-server-api "User-Interactive Authentication API").
import { randomBytes } from 'node:crypto';
import { MatrixError } from '../errors.js';
import type { UiaStore } from '../storage/uia.js';

export type Flow = { stages: string[] };

/** The 401 answer that tells the client which stages remain. */
export class UiaChallenge extends MatrixError {
  constructor(readonly body: Record<string, unknown>) {
    super(String(body.errcode ?? ''), String(body.error ?? 'User-interactive authentication required'), 401);
  }
  override toJSON(): Record<string, unknown> { return this.body; }
}

/** A stage checks the client's `auth` dict; it throws a MatrixError when the stage fails. */
export type StageHandler = (auth: Record<string, unknown>, ctx: { userId: string | null; data: Record<string, unknown> }) => Promise<void>;

export interface UiaRequest {
  method: string;
  path: string;
  /** The authenticated user, or null (registration). */
  userId: string | null;
  auth: unknown;
}

export class UiaService {
  constructor(
    private readonly store: UiaStore,
    private readonly lifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs one round of UIA. Returns the session's data once a whole flow is complete;
   * otherwise throws the 401 challenge. A session is bound to the method, path and user
   * that started it, and expires after the configured lifetime.
   */
  async authenticate(
    req: UiaRequest,
    flows: Flow[],
    stages: Record<string, StageHandler>,
    params: Record<string, unknown> = {},
  ): Promise<Record<string, unknown>> {
    const now = this.now();
    const auth = req.auth;
    if (auth !== undefined && (typeof auth !== 'object' || auth === null || Array.isArray(auth))) {
      throw new MatrixError('M_BAD_JSON', '`auth` must be an object', 400);
    }
    const authDict = auth as Record<string, unknown> | undefined;
    const sessionId = authDict?.session;
    if (sessionId !== undefined && typeof sessionId !== 'string') throw new MatrixError('M_BAD_JSON', '`auth.session` must be a string', 400);

    let session = sessionId ? await this.store.get(sessionId) : undefined;
    if (sessionId && (!session || session.createdTs + this.lifetimeMs < now)) {
      if (session) await this.store.delete(session.sessionId);
      throw new MatrixError('M_UNKNOWN', 'Unknown or expired user-interactive authentication session', 400);
    }
    if (session && (session.method !== req.method || session.path !== req.path || session.userId !== req.userId)) {
      throw new MatrixError('M_FORBIDDEN', 'This authentication session was started for a different request', 403);
    }
    if (!session) {
      const id = randomBytes(18).toString('base64url');
      await this.store.create({ sessionId: id, userId: req.userId, method: req.method, path: req.path, createdTs: now });
      session = { sessionId: id, userId: req.userId, method: req.method, path: req.path, completed: [], data: {}, createdTs: now };
      if (Math.random() < 0.05) await this.store.deleteOlderThan(now - this.lifetimeMs);
    }

    const challenge = (extra: Record<string, unknown> = {}) => new UiaChallenge({
      ...extra,
      flows,
      params,
      session: session!.sessionId,
      ...(session!.completed.length ? { completed: session!.completed } : {}),
    });

    const type = authDict?.type;
    if (type !== undefined) {
      if (typeof type !== 'string' || !stages[type] || !flows.some((f) => f.stages.includes(type))) {
        throw challenge({ errcode: 'M_UNRECOGNIZED', error: `Authentication stage ${String(type)} is not offered here` });
      }
      try {
        await stages[type](authDict!, { userId: req.userId, data: session.data });
      } catch (err) {
        if (err instanceof MatrixError && err.status !== 429) throw challenge({ errcode: err.errcode, error: err.message });
        throw err;
      }
      if (!session.completed.includes(type)) session.completed.push(type);
      await this.store.update(session.sessionId, session.completed, session.data);
    }

    const done = flows.some((f) => f.stages.every((s) => session!.completed.includes(s)));
    if (!done) throw challenge();
    await this.store.delete(session.sessionId);
    return session.data;
  }
}
