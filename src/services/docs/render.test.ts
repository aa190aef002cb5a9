import { describe, expect, it } from 'vitest';
import { plainText, renderHtml } from './render.js';

describe('renderHtml', () => {
  it('renders markdown', () => {
    const html = renderHtml('# Title\n\nSome **bold** and `code`.\n\n```ts\nconst a = 1;\n```\n');
    expect(html).toContain('<h1>Title</h1>');
    expect(html).toContain('<strong>bold</strong>');
    expect(html).toContain('<code class="language-ts">');
  });

  it('removes scripts, event handlers and javascript: links but keeps the text', () => {
    const html = renderHtml(
      [
        '<script>alert(1)</script>',
        '',
        'Click <a href="javascript:alert(2)" onclick="steal()">here</a>.',
        '',
        '[md link](javascript:alert(3)) <img src="x.png" onerror="alert(4)">',
        '',
        '<iframe src="https://evil.example"></iframe>',
      ].join('\n'),
    );
    expect(html).not.toMatch(/<script|alert\(1\)|onclick|onerror|javascript:|<iframe/i);
    expect(html).toContain('here');
    expect(html).toContain('<img src="x.png" />');
  });

  it('keeps safe links and GFM tables', () => {
    const html = renderHtml('[docs](https://example.com/x)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n');
    expect(html).toContain('<a href="https://example.com/x">docs</a>');
    expect(html).toContain('<td>1</td>');
  });
});

describe('plainText', () => {
  it('keeps the words and drops markup and raw HTML', () => {
    const text = plainText(
      '# Heading\n\nA *stressed* [link](https://x.y) and `code`.\n\n- one\n- two\n\n<script>alert(1)</script>\n\n| h |\n|---|\n| cell |\n',
    );
    expect(text).toBe('Heading A stressed link and code . one two h cell');
  });
});
