/**
 * Offline Bicep tooling for the infra checks: parse with tree-sitter-bicep (WebAssembly, via web-tree-sitter)
 * and small helpers to read declarations, objects and properties from the syntax tree.
 *
 * Grammar gap, handled explicitly: tree-sitter-bicep 1.1.0 predates the `extension` statement (Bicep >= 0.30,
 * used for the Microsoft Graph extension). `maskExtensionStatements` blanks exactly the well-formed
 * top-level forms `extension <alias>` / `extension '<ref>'` (optionally `with {...}` on one line, `as <alias>`)
 * with spaces, keeping every line and column; anything else that starts with `extension` still reaches the
 * parser and fails the parse check.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

export type SyntaxNode = Node;

/** The repository root: the nearest directory upward from the working directory holding infra/ and package.json. */
export const ROOT = findRoot(process.cwd());

function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'shared', 'config.ts'))) return dir;
    if (dirname(dir) === dir) throw new Error(`run the infra tests from inside the repository (cwd: ${start})`);
  }
}
export const INFRA_DIR = join(ROOT, 'infra');

let parserPromise: Promise<Parser> | undefined;

export function getParser(): Promise<Parser> {
  parserPromise ??= (async () => {
    // Bytes, not paths: web-tree-sitter reads a path with a dynamic import(), which Jest's CommonJS runtime refuses.
    const require = createRequire(join(ROOT, 'package.json'));
    await Parser.init({ wasmBinary: readFileSync(require.resolve('web-tree-sitter/tree-sitter.wasm')) });
    const wasm = join(require.resolve('tree-sitter-bicep/package.json'), '..', 'tree-sitter-bicep.wasm');
    const language = await Language.load(readFileSync(wasm));
    const parser = new Parser();
    parser.setLanguage(language);
    return parser;
  })();
  return parserPromise;
}

const EXTENSION_STATEMENT =
  /^extension[ \t]+(?:[A-Za-z_][A-Za-z0-9_]*|'[^'\n]+')(?:[ \t]+with[ \t]+\{[^\n]*\})?(?:[ \t]+as[ \t]+[A-Za-z_][A-Za-z0-9_]*)?[ \t]*(?:\/\/[^\n]*)?$/gm;

export function maskExtensionStatements(source: string): string {
  return source.replace(EXTENSION_STATEMENT, (statement) => ' '.repeat(statement.length));
}

export interface BicepFile {
  /** Path relative to the repository root (or a label for inline snippets). */
  path: string;
  source: string;
  tree: Tree;
  root: SyntaxNode;
}

export async function parseBicep(source: string, path = '<inline>'): Promise<BicepFile> {
  const parser = await getParser();
  const tree = parser.parse(maskExtensionStatements(source));
  if (!tree) throw new Error(`tree-sitter returned no tree for ${path}`);
  return { path, source, tree, root: tree.rootNode };
}

export interface SyntaxProblem {
  path: string;
  line: number; // 1-based
  column: number; // 1-based
  message: string;
}

/** Every ERROR and MISSING node, as file:line:col problems. */
export function syntaxProblems(file: BicepFile): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const visit = (node: SyntaxNode): void => {
    if (node.isMissing) {
      problems.push(at(file, node, `missing ${node.type}`));
    } else if (node.isError) {
      const text = node.text.split('\n')[0]!.slice(0, 60);
      problems.push(at(file, node, `syntax error near "${text}"`));
    }
    if (node.hasError || node.isMissing) for (const child of node.children) if (child) visit(child);
  };
  visit(file.root);
  return problems;
}

function at(file: BicepFile, node: SyntaxNode, message: string): SyntaxProblem {
  return { path: file.path, line: node.startPosition.row + 1, column: node.startPosition.column + 1, message };
}

export function formatProblem(p: { path: string; line: number; column: number; message: string }): string {
  return `${p.path}:${p.line}:${p.column}: ${p.message}`;
}

export function listBicepFiles(dir = INFRA_DIR): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return listBicepFiles(path);
      return name.endsWith('.bicep') ? [path] : [];
    })
    .sort();
}

export async function loadInfra(): Promise<BicepFile[]> {
  return Promise.all(listBicepFiles().map((path) => parseBicep(readFileSync(path, 'utf8'), relative(ROOT, path))));
}

// ------------------------------------------------------------------ tree helpers

export function descendants(node: SyntaxNode, type?: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const walk = (n: SyntaxNode): void => {
    for (const child of n.namedChildren) {
      if (!child) continue;
      if (!type || child.type === type) out.push(child);
      walk(child);
    }
  };
  walk(node);
  return out;
}

/** The text of a string literal without quotes, or undefined when it is interpolated or not a string. */
export function stringValue(node: SyntaxNode | null | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  if (node.namedChildren.some((c) => c && c.type !== 'string_content' && c.type !== 'escape_sequence'))
    return undefined;
  const text = node.text;
  if (text.startsWith("'''")) return text.slice(3, -3);
  return text.slice(1, -1).replace(/\\'/g, "'").replace(/\\\\/g, '\\');
}

/** Unwraps `if (...) { }` / `for ... : { }` to the object body of a resource or module declaration. */
export function declarationBody(decl: SyntaxNode): SyntaxNode | undefined {
  const last = decl.namedChildren[decl.namedChildren.length - 1];
  if (!last) return undefined;
  if (last.type === 'object') return last;
  return descendants(last, 'object')[0];
}

export function propertyKey(prop: SyntaxNode): string | undefined {
  const key = prop.namedChildren[0];
  if (!key) return undefined;
  if (key.type === 'identifier') return key.text;
  return stringValue(key);
}

export function propertyValue(prop: SyntaxNode): SyntaxNode | undefined {
  const children = prop.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
  return children.length >= 2 ? children[children.length - 1] : undefined;
}

export function objectProperties(obj: SyntaxNode | undefined): SyntaxNode[] {
  if (!obj || obj.type !== 'object') return [];
  return obj.namedChildren.filter((c): c is SyntaxNode => !!c && c.type === 'object_property');
}

/** Follows a path of property names through nested object literals: get(body, 'properties', 'httpsOnly'). */
export function getProperty(obj: SyntaxNode | undefined, ...path: string[]): SyntaxNode | undefined {
  let current = obj;
  for (const key of path) {
    const prop = objectProperties(current).find((p) => propertyKey(p) === key);
    if (!prop) return undefined;
    current = propertyValue(prop);
  }
  return current;
}

export function isLiteral(node: SyntaxNode | undefined, value: boolean | string): boolean {
  if (!node) return false;
  if (typeof value === 'boolean') return node.type === 'boolean' && node.text === String(value);
  return stringValue(node) === value;
}

export interface Declaration {
  file: BicepFile;
  node: SyntaxNode;
  symbol: string;
  /** Resource type without api version (resources), or module path (modules). */
  type: string;
  body: SyntaxNode | undefined;
  /** `resource x '...' existing = {...}`: a reference, not a declaration of the resource. */
  existing: boolean;
}

/** Resource declarations, including nested child resources (type made absolute from the parent). */
export function resources(file: BicepFile): Declaration[] {
  const out: Declaration[] = [];
  const walk = (node: SyntaxNode, parentType: string | undefined): void => {
    for (const child of node.namedChildren) {
      if (!child) continue;
      if (child.type === 'resource_declaration') {
        const symbol = child.namedChildren[0]?.text ?? '';
        const raw = (stringValue(child.namedChildren[1]) ?? '').split('@')[0]!;
        const type = parentType && !raw.includes('/') ? `${parentType}/${raw}` : raw;
        const body = declarationBody(child);
        const existing = child.children.some((c) => c?.type === 'existing');
        out.push({ file, node: child, symbol, type, body, existing });
        if (body) walk(body, type);
      } else {
        walk(child, parentType);
      }
    }
  };
  walk(file.root, undefined);
  return out;
}

export function modules(file: BicepFile): Declaration[] {
  return descendants(file.root, 'module_declaration').map((node) => ({
    file,
    node,
    symbol: node.namedChildren[0]?.text ?? '',
    type: stringValue(node.namedChildren[1]) ?? '',
    body: declarationBody(node),
    existing: false,
  }));
}

export function lineOf(node: SyntaxNode): number {
  return node.startPosition.row + 1;
}

/** Names of parameters declared with the @secure() decorator. */
export function secureParameters(file: BicepFile): Set<string> {
  const names = new Set<string>();
  for (const decl of descendants(file.root, 'parameter_declaration')) {
    let prev = decl.previousNamedSibling;
    while (prev && prev.type === 'comment') prev = prev.previousNamedSibling;
    if (!prev || prev.type !== 'decorators') continue;
    const secure = descendants(prev, 'call_expression').some((call) =>
      /^(?:sys\.)?secure$/.test(call.childForFieldName('function')?.text ?? ''),
    );
    if (secure) names.add(decl.namedChildren[0]?.text ?? '');
  }
  return names;
}

/** var / param name -> the value expression (params: the default value, when there is one). */
export function symbolValues(file: BicepFile): Map<string, SyntaxNode> {
  const values = new Map<string, SyntaxNode>();
  for (const decl of descendants(file.root, 'variable_declaration')) {
    const name = decl.namedChildren[0]?.text;
    const value = decl.namedChildren[1];
    if (name && value) values.set(name, value);
  }
  for (const decl of descendants(file.root, 'parameter_declaration')) {
    const name = decl.namedChildren[0]?.text;
    const value = decl.namedChildren[2];
    if (name && value) values.set(name, value);
  }
  return values;
}

/** Identifiers referenced in an expression (not property keys). */
export function referencedIdentifiers(node: SyntaxNode): string[] {
  const ids = node.type === 'identifier' ? [node] : descendants(node, 'identifier');
  return ids
    .filter((id) => !(id.parent?.type === 'object_property' && id.parent.namedChildren[0]?.id === id.id))
    .filter((id) => !(id.parent?.type === 'member_expression' && id.parent.namedChildren[0]?.id !== id.id))
    .map((id) => id.text);
}
