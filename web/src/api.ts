// The public HTTP API (docs/api.md), nothing else. The token lives in
// sessionStorage only: never in a URL, never logged.

const TOKEN_KEY = 'fractal.token';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }
}

export function loadToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function saveToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Called when the server says the token is no longer good (401 on a Bearer call).
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(f: () => void): void {
  onUnauthorized = f;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status;
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    if (body?.error) {
      code = String(body.error.code ?? code);
      message = String(body.error.message ?? message);
    }
  } catch {
    /* not JSON: keep the status line */
  }
  const retry = res.headers.get('Retry-After');
  if (retry && !/try again in/.test(message)) message += ` (try again in ${retry} s)`;
  return new ApiError(res.status, code, message);
}

// The first view (sign-in to every visible tile drawn) shares Chromium's six
// HTTP/1.1 connections per origin with whatever else the app asks for: requests
// it does not need (palettes, the task list, thumbnails) go out at low priority
// and only once the explorer's first tiles are drawn (or after maxWaitMs).
let firstViewIsDrawn = false;
const waitingForFirstView: (() => void)[] = [];
export function firstViewDrawn(): void {
  firstViewIsDrawn = true;
  waitingForFirstView.splice(0).forEach((f) => f());
}
export function afterFirstView(maxWaitMs = 1500): Promise<void> {
  if (firstViewIsDrawn) return Promise.resolve();
  return new Promise((resolve) => {
    waitingForFirstView.push(resolve);
    setTimeout(resolve, maxWaitMs);
  });
}

export type Priority = 'high' | 'low' | 'auto';

export async function request(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null; signal?: AbortSignal; priority?: Priority } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  if (init.token) headers['Authorization'] = `Bearer ${init.token}`;
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? 'GET',
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: init.signal,
      cache: 'no-store',
      priority: init.priority ?? 'auto', // Chromium orders queued requests by it
    } as RequestInit);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network_error', 'The server cannot be reached; check your connection and try again.');
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401 && init.token) onUnauthorized();
    throw err;
  }
  return res;
}

export interface TokenReply {
  access_token: string;
  token_type: string;
  expires_in: number;
}

export async function signUp(username: string, password: string): Promise<void> {
  await request('/sign-up', { method: 'POST', body: { username, password } });
}
export async function signIn(username: string, password: string): Promise<TokenReply> {
  return (await request('/sign-in', { method: 'POST', body: { username, password } })).json();
}
export async function signOut(token: string): Promise<void> {
  await request('/sign-out', { method: 'POST', token });
}

export interface Palette {
  name: string;
  description?: string;
  stops: string[];
}
export async function palettes(token: string): Promise<Palette[]> {
  return ((await (await request('/palettes', { token, priority: 'low' })).json()) as { palettes: Palette[] }).palettes;
}

export interface Task {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'canceled';
  progress: number;
  params: Record<string, unknown> & { width: number; height: number; fractal: string; format: string };
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: string | null;
  backend: string | null;
  render_ms: number | null;
  download_url: string | null;
}

export async function listTasks(token: string): Promise<Task[]> {
  return ((await (await request('/tasks?limit=100', { token, priority: 'low' })).json()) as { tasks: Task[] }).tasks;
}
export async function addTask(token: string, body: Record<string, unknown>): Promise<Task> {
  return (await request('/add', { method: 'POST', body, token })).json();
}
export async function deleteTask(token: string, id: string): Promise<void> {
  await request('/delete', { method: 'POST', body: { id }, token });
}
export async function downloadBlob(token: string, id: string, priority: Priority = 'auto'): Promise<Blob> {
  return (await request(`/download?id=${encodeURIComponent(id)}`, { token, priority })).blob();
}
