/**
 * A small route table: `METHOD /path/{param}` patterns over paths with the optional `/vX.Y` version prefix
 * removed. Unmatched requests fall through to the engine proxy, so only what swarmlet serves is listed here.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidArgument } from '../errors.ts';

export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
}

export type Handler = (request: RouteRequest) => Promise<void>;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

const VERSION_PREFIX = /^\/v\d+(?:\.\d+)?(?=\/)/;

function decodePart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalidArgument(`malformed URL path segment "${part}"`);
  }
}

export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    // `{name}` matches one path segment; `{name*}` may span several (image names have slashes).
    const source = path.replace(/\{(\w+)(\*?)\}/g, (_match, name: string, many: string) => {
      names.push(name);
      return many ? '(.+)' : '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  /** The handler for a request, or undefined when swarmlet does not serve it. Throws on a malformed URL. */
  match(req: IncomingMessage): ((res: ServerResponse) => Promise<void>) | undefined {
    const url = new URL(req.url ?? '/', 'http://swarmlet');
    const path = url.pathname.replace(VERSION_PREFIX, '');
    for (const route of this.routes) {
      if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) continue;
      const found = route.pattern.exec(path);
      if (!found) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodePart(found[i + 1]!);
      });
      return (res) => route.handler({ req, res, params, query: url.searchParams });
    }
    return undefined;
  }
}
