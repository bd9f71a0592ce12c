/**
 * HTTP trigger routes, matched the way the Functions host (ASP.NET Core routing) matches them:
 * `{name}`, `{name?}`, `{name=default}`, `{*rest}` and `{name:constraint}` segments, case-insensitive literals,
 * an optional trailing slash, a route prefix from host.json, and the function name as the route when none is set.
 * A path that matches but whose method is not in `methods` is a 404, as in Azure (method is a route constraint).
 */

type Constraint = (value: string) => boolean;

type Segment =
  | { kind: 'literal'; text: string }
  | {
      kind: 'param';
      name: string;
      optional: boolean;
      defaultValue?: string;
      catchAll: boolean;
      constraints: Constraint[];
    };

export interface CompiledRoute<T> {
  template: string;
  segments: Segment[];
  methods: Set<string>;
  target: T;
}

export class RouteTemplateError extends Error {
  override readonly name = 'RouteTemplateError';
}

function constraintFor(spec: string, template: string): Constraint {
  const m = /^([a-z]+)(?:\((.*)\))?$/i.exec(spec);
  if (!m) throw new RouteTemplateError(`Route "${template}": cannot parse constraint "${spec}".`);
  const kind = m[1]!.toLowerCase();
  const arg = m[2] ?? '';
  const num = Number(arg);
  switch (kind) {
    case 'int':
    case 'long':
      return (v) => /^-?\d+$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'guid':
      return (v) => /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(v);
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'minlength':
      return (v) => v.length >= num;
    case 'maxlength':
      return (v) => v.length <= num;
    case 'length':
      return (v) => v.length === num;
    case 'regex': {
      const re = new RegExp(arg, 'i');
      return (v) => re.test(v);
    }
    default:
      // Other ASP.NET constraints (min, max, range, datetime, ...) are not needed by this app: accept.
      return () => true;
  }
}

function parseSegment(raw: string, template: string): Segment {
  if (!raw.includes('{')) {
    if (raw.includes('}')) throw new RouteTemplateError(`Route "${template}": unbalanced "}" in "${raw}".`);
    return { kind: 'literal', text: raw.toLowerCase() };
  }
  const m = /^\{(\*{1,2})?([A-Za-z_][\w]*)((?::[^:?=}]+(?:\([^)]*\))?)*)(\?)?(?:=([^}]*))?\}$/.exec(raw);
  // Complex segments ("{a}.{b}", "x{y}") are legal in ASP.NET but unused here; fail loudly rather than mismatch.
  if (!m) throw new RouteTemplateError(`Route "${template}": unsupported segment "${raw}".`);
  const constraints = (m[3] ?? '')
    .split(':')
    .filter(Boolean)
    .map((c) => constraintFor(c, template));
  const segment: Segment = {
    kind: 'param',
    name: m[2]!,
    optional: m[4] === '?',
    catchAll: Boolean(m[1]),
    constraints,
  };
  if (m[5] !== undefined) segment.defaultValue = m[5];
  return segment;
}

export function compileRoute<T>(template: string, methods: readonly string[], target: T): CompiledRoute<T> {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const segments = trimmed === '' ? [] : trimmed.split('/').map((s) => parseSegment(s, template));
  segments.forEach((s, i) => {
    if (s.kind === 'param' && s.catchAll && i !== segments.length - 1) {
      throw new RouteTemplateError(`Route "${template}": a catch-all parameter must be the last segment.`);
    }
  });
  return { template: trimmed, segments, methods: new Set(methods.map((m) => m.toUpperCase())), target };
}

/** Splits and percent-decodes a URL path; returns undefined for undecodable input (a 400). */
export function splitPath(pathname: string): string[] | undefined {
  const parts = pathname.split('/').filter((p, i, all) => !(p === '' && (i === 0 || i === all.length - 1)));
  try {
    return parts.map((p) => decodeURIComponent(p));
  } catch {
    return undefined;
  }
}

/** Strips the host.json route prefix (e.g. "api"); undefined when the path is outside it. */
export function stripPrefix(segments: string[], routePrefix: string): string[] | undefined {
  const prefix = routePrefix
    .split('/')
    .filter(Boolean)
    .map((s) => s.toLowerCase());
  if (prefix.length > segments.length) return undefined;
  for (let i = 0; i < prefix.length; i++) if (segments[i]!.toLowerCase() !== prefix[i]) return undefined;
  return segments.slice(prefix.length);
}

export function matchRoute<T>(route: CompiledRoute<T>, segments: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let i = 0;
  for (const seg of route.segments) {
    if (seg.kind === 'literal') {
      if (segments[i]?.toLowerCase() !== seg.text) return undefined;
      i++;
      continue;
    }
    if (seg.catchAll) {
      const rest = segments.slice(i).join('/');
      if (rest !== '') params[seg.name] = rest;
      else if (seg.defaultValue !== undefined) params[seg.name] = seg.defaultValue;
      i = segments.length;
      continue;
    }
    const value = segments[i];
    if (value === undefined) {
      if (seg.defaultValue !== undefined) params[seg.name] = seg.defaultValue;
      else if (!seg.optional) return undefined;
      continue;
    }
    if (!seg.constraints.every((c) => c(value))) return undefined;
    params[seg.name] = value;
    i++;
  }
  return i === segments.length ? params : undefined;
}

/** ASP.NET precedence, simplified: literals beat constrained parameters beat parameters beat catch-alls. */
function precedence(route: CompiledRoute<unknown>): number[] {
  return route.segments.map((s) => {
    if (s.kind === 'literal') return 1;
    if (s.catchAll) return 5;
    if (s.optional || s.defaultValue !== undefined) return 4;
    return s.constraints.length ? 2 : 3;
  });
}

function comparePrecedence(a: CompiledRoute<unknown>, b: CompiledRoute<unknown>): number {
  const pa = precedence(a);
  const pb = precedence(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export class RouteTable<T> {
  private readonly routes: CompiledRoute<T>[];

  constructor(routes: CompiledRoute<T>[]) {
    this.routes = [...routes].sort(comparePrecedence);
  }

  /** The route for this method and path, or why there is none (404 for both, as in Azure). */
  find(method: string, segments: string[]): { route: CompiledRoute<T>; params: Record<string, string> } | undefined {
    const upper = method.toUpperCase();
    for (const route of this.routes) {
      if (!route.methods.has(upper)) continue;
      const params = matchRoute(route, segments);
      if (params) return { route, params };
    }
    return undefined;
  }

  /** Pairs of routes that would be ambiguous for some method (ASP.NET answers those with a 500). */
  ambiguities(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.routes.length; i++) {
      for (let j = i + 1; j < this.routes.length; j++) {
        const a = this.routes[i]!;
        const b = this.routes[j]!;
        const shared = [...a.methods].filter((m) => b.methods.has(m));
        if (shared.length && a.template.toLowerCase() === b.template.toLowerCase()) {
          out.push(`"${a.template}" is registered twice for ${shared.join(', ')}`);
        }
      }
    }
    return out;
  }
}
