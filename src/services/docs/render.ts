import { Marked, type Token, type Tokens } from 'marked';
import sanitizeHtml from 'sanitize-html';

const marked = new Marked({ gfm: true, async: false });

// sanitize-html's defaults already drop <script>, on* attributes and javascript: URLs; the
// additions are what marked emits for images, task lists, code languages and table alignment.
const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'del', 'input'],
  allowedAttributes: {
    ...sanitizeHtml.defaults.allowedAttributes,
    code: ['class'],
    ol: ['start'],
    th: ['align'],
    td: ['align'],
    input: [{ name: 'type', multiple: false, values: ['checkbox'] }, 'checked', 'disabled'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
};

/** Markdown to HTML that is safe to put in a page. */
export function renderHtml(markdown: string): string {
  return sanitizeHtml(marked.parse(markdown, { async: false }), SANITIZE);
}

/** The words a reader sees, for indexing and snippets: no markup, no raw HTML, one line. */
export function plainText(markdown: string): string {
  const parts: string[] = [];
  collect(marked.lexer(markdown), parts);
  return parts.join(' ').replace(/\s+/g, ' ').trim();
}

function collect(tokens: readonly Token[], out: string[]): void {
  for (const token of tokens) {
    switch (token.type) {
      case 'html':
      case 'space':
      case 'hr':
      case 'def':
        break;
      case 'list':
        for (const item of (token as Tokens.List).items) collect(item.tokens, out);
        break;
      case 'table': {
        const table = token as Tokens.Table;
        for (const cell of [...table.header, ...table.rows.flat()]) collect(cell.tokens, out);
        break;
      }
      default:
        if ('tokens' in token && Array.isArray(token.tokens) && token.tokens.length > 0) {
          collect(token.tokens, out);
        } else if ('text' in token && typeof token.text === 'string') {
          out.push(token.text);
        }
    }
  }
}
