// A small HTTP client for tests: real requests, JSON in and out.
export interface Response<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export class Client {
  constructor(readonly baseUrl: string, public token?: string) {}

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown, opts: { token?: string | null; raw?: string; headers?: Record<string, string> } = {}): Promise<Response<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: string | undefined = opts.raw;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(new URL(path, this.baseUrl), { method, headers, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = text ? JSON.parse(text) : {}; } catch { /* not JSON */ }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = Record<string, unknown>>(path: string, opts?: { token?: string | null }) { return this.request<T>('GET', path, undefined, opts); }
  post<T = Record<string, unknown>>(path: string, body?: unknown, opts?: { token?: string | null }) { return this.request<T>('POST', path, body ?? {}, opts); }
  put<T = Record<string, unknown>>(path: string, body?: unknown, opts?: { token?: string | null }) { return this.request<T>('PUT', path, body ?? {}, opts); }
  delete<T = Record<string, unknown>>(path: string, body?: unknown, opts?: { token?: string | null }) { return this.request<T>('DELETE', path, body, opts); }

  /** Registers with the dummy stage (open registration) and keeps the access token. */
  async register(username: string, password = 'correct horse battery staple', extra: Record<string, unknown> = {}): Promise<{ user_id: string; access_token: string; device_id: string }> {
    const r = await this.post<{ user_id: string; access_token: string; device_id: string }>('/_matrix/client/v3/register',
      { username, password, auth: { type: 'm.login.dummy' }, ...extra }, { token: null });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    this.token = r.body.access_token;
    return r.body;
  }
}
