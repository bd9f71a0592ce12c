/**
 * A small evaluator for the Bicep expressions this project's templates use, over the tree-sitter syntax tree, so
 * the offline checks can run the templates' own guards and app settings for a given set of parameters (what ARM
 * would compute at deployment time) instead of matching their text.
 *
 * What ARM knows only at deployment time (module outputs, resource properties) evaluates to an `Unknown` that
 * carries the expression's text (`storage.outputs.tableEndpoint`); a test maps those to sample values. Deciding a
 * condition on an unknown is an error, never a guess. `fail()` throws `BicepFail` with the template's message, as
 * ARM fails the deployment. Functions: the ones the templates call (see FUNCTIONS); any other is an error, so a
 * template change that needs more fails loudly here rather than being skipped.
 */
import { createHash } from 'node:crypto';
import {
  type BicepFile,
  type SyntaxNode,
  descendants,
  modules,
  objectProperties,
  propertyKey,
  propertyValue,
} from './_bicep';

export class Unknown {
  constructor(readonly text: string) {}
}

export class BicepFail extends Error {
  override readonly name = 'BicepFail';
}

export type Value = string | number | boolean | null | Value[] | { [key: string]: Value } | Unknown | Lambda;
type Lambda = (...args: Value[]) => Value;

/** What a deployment's environment answers: tenant(), environment(), deployer(), subscription(). */
export interface DeploymentContext {
  tenantId: string;
  /** environment().name: AzureCloud, AzureUSGovernment, AzureChinaCloud. */
  cloud: string;
  loginEndpoint: string;
  deployerObjectId: string;
  subscriptionId: string;
}

export const PUBLIC_CLOUD: DeploymentContext = {
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  cloud: 'AzureCloud',
  loginEndpoint: 'https://login.microsoftonline.com/',
  deployerObjectId: '0b8f0c4e-1111-4222-8333-444455556666',
  subscriptionId: '00000000-1111-4222-8333-444444444444',
};

export class Scope {
  private readonly cache = new Map<string, Value>();
  private readonly values = new Map<string, SyntaxNode>();
  private readonly declared = new Set<string>();

  constructor(
    readonly file: BicepFile,
    private readonly params: Readonly<Record<string, Value>>,
    readonly context: DeploymentContext,
    /** Deployment-time values the caller supplies, by expression text: `{ 'identity.outputs.clientId': '…' }`. */
    readonly known: Readonly<Record<string, Value>> = {},
  ) {
    for (const decl of descendants(file.root, 'variable_declaration')) {
      const name = decl.namedChildren[0]?.text;
      const value = decl.namedChildren[1];
      if (name && value) this.values.set(name, value);
    }
    for (const decl of descendants(file.root, 'parameter_declaration')) {
      const name = decl.namedChildren[0]?.text;
      if (!name) continue;
      this.declared.add(name);
      const value = decl.namedChildren[2];
      if (value && !(name in params)) this.values.set(name, value);
    }
  }

  lookup(name: string): Value {
    if (name in this.params) return this.params[name]!;
    if (this.cache.has(name)) return this.cache.get(name)!;
    const node = this.values.get(name);
    if (!node) {
      // A resource or module symbol, or a parameter without default that the caller did not give.
      if (this.declared.has(name)) throw new Error(`parameter ${name} has no default and was not given`);
      return new Unknown(name);
    }
    const value = evaluate(node, this);
    this.cache.set(name, value);
    return value;
  }
}

const CHAIN_NODES = new Set(['binary_expression', 'unary_expression']);
const PUSHDOWN_NODES = new Set(['ternary_expression', 'lambda_expression']);

/**
 * Evaluates `node`. Grammar gap, handled here: tree-sitter-bicep 1.1.0 gives `.prop` the lowest precedence but one
 * (PREC.SUBSCRIPT = -1), so `a && b.c != d` parses as `((a && b).c) != d`, and `c => c.origin` as `(c => c).origin`.
 * Operator chains are therefore flattened (a member access joins the operand it follows) and re-read with Bicep's
 * precedence (Learn "Bicep operators": unary, multiplicative, additive, relational, equality, &&, ||, ??); a member
 * access on a ternary or a lambda applies to its last branch or its body.
 */
export function evaluate(
  node: SyntaxNode,
  scope: Scope,
  locals: ReadonlyMap<string, Value> = new Map(),
  path: readonly string[] = [],
): Value {
  if (node.type === 'member_expression') {
    const { base, properties } = memberChain(node);
    if (CHAIN_NODES.has(base.type)) return evaluateChain(node, scope, locals, path);
    if (PUSHDOWN_NODES.has(base.type)) return evaluate(base, scope, locals, [...properties, ...path]);
  }
  if (node.type === 'lambda_expression') {
    const names = node.namedChildren
      .slice(0, -1)
      .flatMap((c) => (c ? (c.type === 'identifier' ? [c] : descendants(c, 'identifier')) : []))
      .map((c) => c.text);
    const body = node.namedChildren[node.namedChildren.length - 1]!;
    const fn: Lambda = (...args: Value[]) =>
      evaluate(body, scope, new Map([...locals, ...names.map((n, i) => [n, args[i] ?? null] as const)]), path);
    return fn;
  }
  if (CHAIN_NODES.has(node.type)) return evaluateChain(node, scope, locals, path);
  if (node.type === 'ternary_expression') {
    const condition = evaluate(node.childForFieldName('condition')!, scope, locals);
    return truthy(condition, node)
      ? evaluate(node.childForFieldName('consequence')!, scope, locals)
      : evaluate(node.childForFieldName('alternative')!, scope, locals, path);
  }
  return path.reduce<Value>(
    (value, property) => member(value, property, node, scope),
    evaluateCore(node, scope, locals),
  );
}

function member(object: Value, property: string, node: SyntaxNode, scope: Scope): Value {
  if (object instanceof Unknown) {
    const text = `${object.text}.${property}`;
    return text in scope.known ? scope.known[text]! : new Unknown(text);
  }
  if (object && typeof object === 'object' && !Array.isArray(object) && property in object)
    return (object as Record<string, Value>)[property]!;
  throw new Error(`no property ${property} in ${node.text.slice(0, 80)}`);
}

/** `a.b.c` → base `a`, properties [b, c] (the tree nests member expressions left to right). */
function memberChain(node: SyntaxNode): { base: SyntaxNode; properties: string[] } {
  const properties: string[] = [];
  let base = node;
  while (base.type === 'member_expression' && base.childForFieldName('object')) {
    properties.unshift(base.childForFieldName('property')?.text ?? '');
    base = base.childForFieldName('object')!;
  }
  return { base, properties };
}

type Token = { operand: SyntaxNode; path: string[] } | { prefix: string } | { op: string };
type Ast =
  { operand: SyntaxNode; path: string[] } | { prefix: string; arg: Ast } | { op: string; left: Ast; right: Ast };

const BINARY_PRECEDENCE: Readonly<Record<string, number>> = {
  '*': 11,
  '/': 11,
  '%': 11,
  '+': 10,
  '-': 10,
  '<': 7,
  '<=': 7,
  '>': 7,
  '>=': 7,
  '==': 6,
  '!=': 6,
  '=~': 6,
  '!~': 6,
  '&&': 2,
  '||': 1,
  '??': 0,
};

function flatten(node: SyntaxNode, out: Token[]): void {
  if (node.type === 'binary_expression') {
    flatten(node.childForFieldName('left')!, out);
    out.push({ op: node.children[1]?.text ?? '?' });
    flatten(node.childForFieldName('right')!, out);
  } else if (node.type === 'unary_expression') {
    out.push({ prefix: node.children[0]?.text ?? '?' });
    flatten(node.namedChildren[0]!, out);
  } else if (node.type === 'member_expression' && CHAIN_NODES.has(memberChain(node).base.type)) {
    const { base, properties } = memberChain(node);
    flatten(base, out);
    const last = out[out.length - 1] as { operand: SyntaxNode; path: string[] };
    last.path.push(...properties);
  } else {
    out.push({ operand: node, path: [] });
  }
}

function evaluateChain(
  node: SyntaxNode,
  scope: Scope,
  locals: ReadonlyMap<string, Value>,
  path: readonly string[],
): Value {
  const tokens: Token[] = [];
  flatten(node, tokens);
  const last = tokens[tokens.length - 1] as { operand: SyntaxNode; path: string[] };
  last.path.push(...path);
  let i = 0;
  const primary = (): Ast => {
    const t = tokens[i++];
    if (!t) throw new Error(`incomplete expression ${node.text.slice(0, 80)}`);
    if ('prefix' in t) return { prefix: t.prefix, arg: primary() };
    if ('operand' in t) return t;
    throw new Error(`unexpected operator ${t.op} in ${node.text.slice(0, 80)}`);
  };
  const parse = (min: number): Ast => {
    let left = primary();
    for (let t = tokens[i]; t && 'op' in t && BINARY_PRECEDENCE[t.op]! >= min; t = tokens[i]) {
      i += 1;
      left = { op: t.op, left, right: parse(BINARY_PRECEDENCE[t.op]! + 1) };
    }
    return left;
  };
  const ast = parse(0);
  if (i !== tokens.length) throw new Error(`could not read ${node.text.slice(0, 80)}`);
  return evaluateAst(ast, node, scope, locals);
}

function evaluateAst(ast: Ast, node: SyntaxNode, scope: Scope, locals: ReadonlyMap<string, Value>): Value {
  const ev = (a: Ast): Value => evaluateAst(a, node, scope, locals);
  if ('operand' in ast) return evaluate(ast.operand, scope, locals, ast.path);
  if ('prefix' in ast) {
    const v = ev(ast.arg);
    if (v instanceof Unknown) return new Unknown(node.text);
    if (ast.prefix === '!') return !truthy(v, node);
    if (ast.prefix === '-') return -(v as number);
    throw new Error(`unary ${ast.prefix}`);
  }
  const left = ev(ast.left);
  if (ast.op === '&&') return truthy(left, node) ? truthy(ev(ast.right), node) : false;
  if (ast.op === '||') return truthy(left, node) ? true : truthy(ev(ast.right), node);
  if (ast.op === '??') return left ?? ev(ast.right);
  const right = ev(ast.right);
  if (left instanceof Unknown || right instanceof Unknown) return new Unknown(node.text);
  switch (ast.op) {
    case '==':
      return equal(left, right);
    case '!=':
      return !equal(left, right);
    case '=~':
      return String(left).toLowerCase() === String(right).toLowerCase();
    case '!~':
      return String(left).toLowerCase() !== String(right).toLowerCase();
    case '<':
      return (left as number) < (right as number);
    case '>':
      return (left as number) > (right as number);
    case '<=':
      return (left as number) <= (right as number);
    case '>=':
      return (left as number) >= (right as number);
    case '+':
      return (left as number) + (right as number);
    case '-':
      return (left as number) - (right as number);
    case '*':
      return (left as number) * (right as number);
    default:
      throw new Error(`operator ${ast.op}`);
  }
}

function evaluateCore(node: SyntaxNode, scope: Scope, locals: ReadonlyMap<string, Value>): Value {
  const ev = (n: SyntaxNode | null | undefined): Value => {
    if (!n) throw new Error('missing expression');
    return evaluate(n, scope, locals);
  };
  switch (node.type) {
    case 'parenthesized_expression':
      return ev(node.namedChildren[0]);
    case 'string': {
      let out = '';
      let unknown = false;
      const text = node.text;
      if (text.startsWith("'''")) return text.slice(3, -3);
      for (const part of node.namedChildren) {
        if (!part) continue;
        if (part.type === 'string_content') out += part.text;
        else if (part.type === 'escape_sequence') out += unescape(part.text);
        else if (part.type === 'interpolation') {
          const v = ev(part.namedChildren[0]);
          if (v instanceof Unknown) unknown = true;
          out += v instanceof Unknown ? `<${v.text}>` : String(v);
        }
      }
      return unknown ? new Unknown(out) : out;
    }
    case 'number':
      return Number(node.text);
    case 'boolean':
      return node.text === 'true';
    case 'null':
      return null;
    case 'array':
      return node.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment').map((c) => ev(c));
    case 'object': {
      const out: Record<string, Value> = {};
      for (const prop of objectProperties(node)) out[propertyKey(prop) ?? '?'] = ev(propertyValue(prop));
      return out;
    }
    case 'identifier':
      return locals.has(node.text) ? locals.get(node.text)! : scope.lookup(node.text);
    case 'member_expression':
      return member(ev(node.childForFieldName('object')), node.childForFieldName('property')?.text ?? '', node, scope);
    case 'subscript_expression': {
      const object = ev(node.childForFieldName('object'));
      const index = ev(node.childForFieldName('index'));
      if (object instanceof Unknown || index instanceof Unknown) return new Unknown(node.text);
      if (Array.isArray(object) && typeof index === 'number')
        return object[index] ?? fail(`index ${index} out of range in ${node.text}`);
      if (object && typeof object === 'object' && typeof index === 'string')
        return (object as Record<string, Value>)[index] ?? null;
      throw new Error(`cannot index ${node.text}`);
    }
    case 'call_expression': {
      const callee = node.childForFieldName('function');
      const name =
        (callee?.type === 'member_expression' ? callee.childForFieldName('property')?.text : callee?.text) ?? '';
      const args = (node.childForFieldName('arguments')?.namedChildren ?? []).filter(
        (c): c is SyntaxNode => !!c && c.type !== 'comment',
      );
      const fn = FUNCTIONS[name];
      if (!fn) throw new Error(`function ${name}() is not supported by the evaluator (${node.text.slice(0, 60)})`);
      return fn(
        args.map((a) => ev(a)),
        scope,
        node,
      );
    }
    default:
      throw new Error(`expression ${node.type} is not supported by the evaluator (${node.text.slice(0, 60)})`);
  }
}

function unescape(seq: string): string {
  const map: Record<string, string> = { "\\'": "'", '\\\\': '\\', '\\n': '\n', '\\r': '\r', '\\t': '\t', '\\$': '$' };
  return map[seq] ?? seq;
}

function fail(message: string): never {
  throw new Error(message);
}

function truthy(v: Value, node: SyntaxNode): boolean {
  if (v instanceof Unknown)
    throw new Error(`condition depends on a deployment-time value: ${node.text.slice(0, 80)} (${v.text})`);
  if (typeof v !== 'boolean') throw new Error(`condition is not a bool: ${node.text.slice(0, 80)}`);
  return v;
}

function equal(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const str = (v: Value): string => {
  if (typeof v !== 'string') throw new Error(`expected a string, got ${JSON.stringify(v)}`);
  return v;
};
const arr = (v: Value): Value[] => {
  if (!Array.isArray(v)) throw new Error(`expected an array, got ${JSON.stringify(v)}`);
  return v;
};
const lambda = (v: Value): Lambda => {
  if (typeof v !== 'function') throw new Error('expected a lambda');
  return v;
};
const anyUnknown = (args: Value[]): boolean => args.some((a) => a instanceof Unknown);

type Fn = (args: Value[], scope: Scope, node: SyntaxNode) => Value;
const pure =
  (f: (...args: Value[]) => Value): Fn =>
  (args, _scope, node) =>
    anyUnknown(args) ? new Unknown(node.text) : f(...args);

const STORAGE_SUFFIX: Readonly<Record<string, string>> = {
  AzureCloud: 'core.windows.net',
  AzureUSGovernment: 'core.usgovcloudapi.net',
  AzureChinaCloud: 'core.chinacloudapi.cn',
};

/** ARM template functions, as documented on Learn "Bicep functions" (string, array, logical, deployment). */
const FUNCTIONS: Record<string, Fn> = {
  fail: (args) => {
    throw new BicepFail(args[0] instanceof Unknown ? args[0].text : str(args[0]!));
  },
  empty: pure(
    (v) =>
      v === null ||
      v === '' ||
      (Array.isArray(v) && v.length === 0) ||
      (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0),
  ),
  contains: pure((c, x) =>
    typeof c === 'string'
      ? c.includes(str(x))
      : Array.isArray(c)
        ? c.some((e) => equal(e, x))
        : Object.keys(c as object).includes(str(x)),
  ),
  startsWith: pure((s, p) => str(s).toLowerCase().startsWith(str(p).toLowerCase())),
  endsWith: pure((s, p) => str(s).toLowerCase().endsWith(str(p).toLowerCase())),
  indexOf: pure((s, p) =>
    typeof s === 'string' ? s.toLowerCase().indexOf(str(p).toLowerCase()) : arr(s).findIndex((e) => equal(e, p)),
  ),
  toLower: pure((s) => str(s).toLowerCase()),
  toUpper: pure((s) => str(s).toUpperCase()),
  trim: pure((s) => str(s).trim()),
  split: pure((s, d) => str(s).split(str(d))),
  join: pure((a, d) =>
    arr(a)
      .map((e) => String(e))
      .join(str(d)),
  ),
  skip: pure((v, n) =>
    typeof v === 'string' ? v.slice(Math.max(0, n as number)) : arr(v).slice(Math.max(0, n as number)),
  ),
  take: pure((v, n) =>
    typeof v === 'string' ? v.slice(0, Math.max(0, n as number)) : arr(v).slice(0, Math.max(0, n as number)),
  ),
  length: pure((v) =>
    typeof v === 'string' ? v.length : Array.isArray(v) ? v.length : Object.keys(v as object).length,
  ),
  string: pure((v) => (typeof v === 'string' ? v : JSON.stringify(v))),
  concat: pure((...vs) => (Array.isArray(vs[0]) ? vs.flatMap((v) => arr(v)) : vs.map((v) => String(v)).join(''))),
  union: pure((...vs) =>
    Array.isArray(vs[0])
      ? vs.flatMap((v) => arr(v)).filter((e, i, all) => all.findIndex((x) => equal(x, e)) === i)
      : Object.assign({}, ...vs),
  ),
  filter: (args) =>
    anyUnknown(args) ? new Unknown('filter(...)') : arr(args[0]!).filter((e, i) => lambda(args[1]!)(e, i) === true),
  map: (args) => (anyUnknown(args) ? new Unknown('map(...)') : arr(args[0]!).map((e, i) => lambda(args[1]!)(e, i))),
  uniqueString: pure((...parts) =>
    createHash('sha256')
      .update(parts.map(String).join('|'))
      .digest('hex')
      .replace(/[^a-z]/g, '')
      .slice(0, 13)
      .padEnd(13, 'a'),
  ),
  guid: pure((...parts) =>
    createHash('sha256')
      .update(parts.map(String).join('|'))
      .digest('hex')
      .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12}).*$/, '$1-$2-$3-$4-$5'),
  ),
  tenant: (_a, scope) => ({ tenantId: scope.context.tenantId }),
  subscription: (_a, scope) => ({
    id: `/subscriptions/${scope.context.subscriptionId}`,
    subscriptionId: scope.context.subscriptionId,
  }),
  deployer: (_a, scope) => ({ objectId: scope.context.deployerObjectId }),
  environment: (_a, scope) => ({
    name: scope.context.cloud,
    authentication: { loginEndpoint: scope.context.loginEndpoint },
    suffixes: { storage: STORAGE_SUFFIX[scope.context.cloud] ?? 'core.windows.net' },
  }),
  subscriptionResourceId: (_a, _s, node) => new Unknown(node.text),
};

/** The `params: {...}` a module declaration passes, evaluated in the declaring file's scope. */
export function moduleParams(scope: Scope, symbol: string): Record<string, Value> {
  const decl = modules(scope.file).find((m) => m.symbol === symbol);
  if (!decl?.body) throw new Error(`no module ${symbol} in ${scope.file.path}`);
  const params = objectProperties(decl.body).find((p) => propertyKey(p) === 'params');
  const out: Record<string, Value> = {};
  for (const prop of objectProperties(params ? propertyValue(params) : undefined))
    out[propertyKey(prop) ?? '?'] = evaluate(propertyValue(prop)!, scope);
  return out;
}

/** A deployment of infra/main.bicep with some parameters, evaluated as far as it can be offline. */
export interface Deployment {
  main: Scope;
  /** The scope of a local module (`module x 'modules/....bicep'`) as main.bicep instantiates it. */
  module(symbol: string): Scope;
  /** A `var`, `param` or `output` of main.bicep, evaluated (throws BicepFail when a guard fails). */
  value(name: string): Value;
}

export function deploy(
  files: readonly BicepFile[],
  params: Record<string, Value>,
  context: DeploymentContext = PUBLIC_CLOUD,
  known: Record<string, Value> = {},
): Deployment {
  const mainFile = files.find((f) => f.path.endsWith('infra/main.bicep'));
  if (!mainFile) throw new Error('infra/main.bicep is not among the files');
  const main = new Scope(mainFile, params, context, known);
  const modulesByPath = new Map<string, Scope>();
  return {
    main,
    module(symbol) {
      const decl = modules(mainFile).find((m) => m.symbol === symbol);
      if (!decl) throw new Error(`main.bicep has no module ${symbol}`);
      const file = files.find((f) => f.path.endsWith(`infra/${decl.type}`));
      if (!file) throw new Error(`module ${symbol} (${decl.type}) is not a local file`);
      const key = `${symbol}:${file.path}`;
      if (!modulesByPath.has(key)) modulesByPath.set(key, new Scope(file, moduleParams(main, symbol), context, known));
      return modulesByPath.get(key)!;
    },
    value(name) {
      const output = descendants(mainFile.root, 'output_declaration').find((o) => o.namedChildren[0]?.text === name);
      return output ? evaluate(output.namedChildren[output.namedChildren.length - 1]!, main) : main.lookup(name);
    },
  };
}

/** A resource's property (path through object literals), evaluated in the resource's file. */
export function resourceProperty(scope: Scope, resourceSymbol: string, ...path: string[]): Value {
  const decl = descendants(scope.file.root, 'resource_declaration').find(
    (r) => r.namedChildren[0]?.text === resourceSymbol,
  );
  if (!decl) throw new Error(`no resource ${resourceSymbol} in ${scope.file.path}`);
  let node: SyntaxNode | undefined = decl.namedChildren[decl.namedChildren.length - 1] ?? undefined;
  if (node && node.type !== 'object') node = descendants(node, 'object')[0];
  for (const key of path) {
    const prop = objectProperties(node).find((p) => propertyKey(p) === key);
    if (!prop) throw new Error(`${resourceSymbol} has no ${path.join('.')}`);
    node = propertyValue(prop);
  }
  if (!node) throw new Error(`${resourceSymbol}.${path.join('.')} has no value`);
  return evaluate(node, scope);
}

/** Whether a module of main.bicep is deployed with these parameters (its `if (...)`, or always). */
export function isDeployed(deployment: Deployment, symbol: string): boolean {
  const decl = modules(deployment.main.file).find((m) => m.symbol === symbol);
  if (!decl) throw new Error(`main.bicep has no module ${symbol}`);
  const condition = decl.node.namedChildren.find((c) => c?.type === 'if_statement');
  if (!condition) return true;
  const expr = condition.namedChildren.find((c) => c && c.type !== 'object');
  const value = evaluate(expr!, deployment.main);
  if (typeof value !== 'boolean') throw new Error(`condition of ${symbol} is not a bool`);
  return value;
}
