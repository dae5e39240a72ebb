/**
 * A fake fetch for unit tests: routes `nbgov/api/...` requests to handlers and records calls.
 */
import { ServerConnection } from '@jupyterlab/services';

export interface ICall {
  method: string;
  url: URL;
  body: any;
}

export type Handler = (call: ICall) => { status: number; body: unknown; text?: string };

/** Server settings whose fetch answers from `routes` (keyed by "METHOD route"). */
export function fakeSettings(
  routes: { [key: string]: Handler },
  calls: ICall[] = []
): ServerConnection.ISettings {
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const text = method === 'GET' ? '' : await request.text();
    const call = { method, url, body: text ? JSON.parse(text) : null };
    calls.push(call);
    const route = url.pathname.replace(/^.*\/nbgov\/api\//, '');
    const handler = routes[`${method} ${route}`];
    if (!handler) {
      return new Response('<html><body>404: Not Found</body></html>', {
        status: 404,
        headers: { 'Content-Type': 'text/html' }
      });
    }
    const answer = handler(call);
    const body = answer.text ?? JSON.stringify(answer.body);
    return new Response(body, {
      status: answer.status,
      headers: { 'Content-Type': 'application/json' }
    });
  };
  return ServerConnection.makeSettings({
    baseUrl: 'http://127.0.0.1:9999/lab-base/',
    wsUrl: 'ws://127.0.0.1:9999/lab-base/',
    token: 'secret',
    fetch: fetch as any,
    Request: Request as any,
    Headers: Headers as any
  });
}

export const INFO = { version: '0.1.0', root: '.', pipeline: 'pipeline.yaml' };
