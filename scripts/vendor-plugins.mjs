// esbuild plugins for the vendor files of scripts/build.mjs: each changes when a library's code or data is read,
// never what it does, and each is checked against the library itself in test/build/bundle.test.ts.
import { endianness } from 'node:os';
import { readFileSync } from 'node:fs';

/** A numeric typed-array literal, as the Public Suffix List's generated modules write their tables. */
const TYPED_ARRAY_LITERAL = /new (Uint8|Uint16|Uint32|Int32)Array\(\[([\d\s,]*)\]\)/g;

/** The literal's values as little-endian bytes, base64 (the type wraps each value as its constructor would). */
function encodeTypedArray(type, values) {
  const array = globalThis[`${type}Array`].from(values);
  const bytes = Buffer.from(array.buffer.slice(0)); // typed arrays use the platform's byte order
  if (endianness() === 'BE' && array.BYTES_PER_ELEMENT > 1)
    bytes[array.BYTES_PER_ELEMENT === 2 ? 'swap16' : 'swap32']();
  return bytes.toString('base64');
}

/** Decodes what encodeTypedArray made. Its source is inlined into the transformed module: it stays self-contained. */
function decodeTypedArray(type, base64) {
  const bytes = new Uint8Array(Buffer.from(base64, 'base64')); // a copy, on its own (aligned) ArrayBuffer
  if (type === 'Uint8') return bytes;
  const Type = { Uint16: Uint16Array, Uint32: Uint32Array, Int32: Int32Array }[type];
  // Encoded little-endian: a big-endian platform swaps each element's bytes before the view reads them.
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] === 0) {
    Buffer.from(bytes.buffer)[Type.BYTES_PER_ELEMENT === 2 ? 'swap16' : 'swap32']();
  }
  return new Type(bytes.buffer);
}

/** Rewrites a module's numeric typed-array literals as base64 strings decoded at load. */
function typedArrayLiteralsAsBase64(source) {
  let count = 0;
  const code = source.replace(TYPED_ARRAY_LITERAL, (_literal, type, body) => {
    count++;
    const values = body
      .split(',')
      .filter((v) => v.trim() !== '')
      .map(Number);
    return `__decodeTypedArray(${JSON.stringify(type)}, ${JSON.stringify(encodeTypedArray(type, values))})`;
  });
  return count ? `${code}\n${decodeTypedArray.toString().replace('decodeTypedArray', '__decodeTypedArray')}\n` : code;
}

/**
 * tldts ships the Public Suffix List's tables as numeric array literals (~120 KB of them), and V8 parses each
 * number as a token of its own. As base64 strings the same bytes decode in one native pass: the list loads in ~6 ms
 * of CPU instead of ~10 (BENCHMARKS.md). The lookup code and the data are tldts's own.
 */
export const pslTablesAsBase64 = {
  name: 'psl-tables-as-base64',
  setup(b) {
    b.onLoad({ filter: /[\\/]tldts(-core)?[\\/]dist[\\/](es6|cjs)[\\/].*\.js$/ }, (args) => {
      return { contents: typedArrayLiteralsAsBase64(readFileSync(args.path, 'utf8')), loader: 'js' };
    });
  },
};

/**
 * `@azure/data-tables` imports `@azure/core-xml` (fast-xml-parser and its helpers, ~110 KB) for the XML answers
 * of table access policies, which this service never asks for; the JSON entity calls never parse XML. This stands
 * in for the package with the same exports: the constants, and the two functions, which load the real package
 * (its own vendor file, `xmlVendorPath`) on their first call. So the Table SDK loads a third smaller on the first
 * login, and anything that does parse XML still gets the real parser.
 */
export function lazyCoreXml(xmlVendorPath) {
  return {
    name: 'lazy-core-xml',
    setup(b) {
      b.onResolve({ filter: /^@azure\/core-xml$/ }, () => ({ path: 'lazy-core-xml', namespace: 'lazy-core-xml' }));
      b.onLoad({ filter: /.*/, namespace: 'lazy-core-xml' }, async () => {
        const real = await import('@azure/core-xml');
        return {
          loader: 'js',
          contents: [
            `export const XML_ATTRKEY = ${JSON.stringify(real.XML_ATTRKEY)};`,
            `export const XML_CHARKEY = ${JSON.stringify(real.XML_CHARKEY)};`,
            `const load = () => require(${JSON.stringify(xmlVendorPath)});`,
            'export function stringifyXML(obj, opts) { return load().stringifyXML(obj, opts); }',
            'export function parseXML(str, opts) { return load().parseXML(str, opts); }',
          ].join('\n'),
        };
      });
    },
  };
}
