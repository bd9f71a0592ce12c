import { describe, expect, test } from '@jest/globals';
import { validateReturnUrl } from '../../shared/core/return-url';
import { isAuthError } from '../../shared/errors';

const policy = {
  publicOrigin: 'https://auth.contoso.example',
  allowedOrigins: ['https://app.contoso.example', 'http://localhost:3000'],
};

describe('returnTo accepted', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['/app', '/app'],
    ['/app/page?x=1&y=%2F#frag', '/app/page?x=1&y=%2F#frag'],
    ['https://app.contoso.example/dashboard', 'https://app.contoso.example/dashboard'],
    ['http://localhost:3000/', 'http://localhost:3000/'],
    ['https://auth.contoso.example/x', 'https://auth.contoso.example/x'],
  ];
  for (const [input, expected] of cases)
    test(JSON.stringify(input), () => expect(validateReturnUrl(input, policy)).toBe(expected));
});

describe('returnTo attacks rejected with invalid_return_url', () => {
  const attacks = [
    '//evil.example',
    '//evil.example/path',
    '/\\evil.example',
    '\\\\evil.example',
    '/\\/evil.example',
    'https:evil.example',
    'https:/evil.example',
    'http:evil.example',
    '/%2F%2Fevil.example',
    '/%2f%2fevil.example',
    '%2F%2Fevil.example',
    '/%5Cevil.example',
    '/%5cevil.example',
    '/%252F%252Fevil.example',
    '/%25252F%25252Fevil.example',
    '/%255Cevil.example',
    ' //evil.example',
    '/ /evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '/\r\n/evil.example',
    '/%09/evil.example',
    '/%0a/evil.example',
    '/%00/evil.example',
    '\u3000//evil.example',
    '/\u2028/evil.example',
    'javascript:alert(1)',
    'JavaScript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'https://evil.example',
    'https://evil.example/',
    'https://app.contoso.example.evil.example/',
    'https://app.contoso.example@evil.example/',
    'https://user:pass@app.contoso.example/',
    'https://evil.example\\@app.contoso.example/',
    'http://app.contoso.example/',
    'https://app.contoso.example:8443/',
    'ftp://app.contoso.example/',
    '',
    'app',
    `/${'a'.repeat(2100)}`,
    '/%E0%A4%A',
  ];
  for (const attack of attacks) {
    test(JSON.stringify(attack), () => {
      expect(() => validateReturnUrl(attack, policy)).toThrowSatisfying((e) => isAuthError(e, 'invalid_return_url'));
    });
  }
});
