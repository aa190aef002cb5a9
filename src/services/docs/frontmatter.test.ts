import { describe, expect, it } from 'vitest';
import { parsePage, validateFrontmatter } from './frontmatter.js';

const page = (yaml: string, body = '# Body\n') => `---\n${yaml}\n---\n${body}`;

describe('frontmatter', () => {
  it('parses every known field and keeps the body after the block', () => {
    const parsed = parsePage(
      page(
        [
          'title: Broker connection lost',
          'sidebar_position: 2',
          'tags: [broker, incident]',
          'domain: ops',
          'type: runbook',
          'summary: What to do when the broker drops',
          'status: active',
          'last_review: 2025-01-15',
        ].join('\n'),
        'Body text\n',
      ),
    );
    expect(parsed).toEqual({
      ok: true,
      frontmatter: {
        title: 'Broker connection lost',
        sidebar_position: 2,
        tags: ['broker', 'incident'],
        domain: 'ops',
        type: 'runbook',
        summary: 'What to do when the broker drops',
        status: 'active',
        last_review: '2025-01-15',
      },
      body: 'Body text\n',
    });
  });

  it('accepts CRLF line endings and a byte-order mark', () => {
    const parsed = parsePage('\uFEFF---\r\ntitle: Windows\r\n---\r\nhello');
    expect(parsed).toMatchObject({ ok: true, frontmatter: { title: 'Windows' }, body: 'hello' });
  });

  it('treats a YAML Date as that calendar day', () => {
    expect(validateFrontmatter({ title: 'T', last_review: new Date('2024-02-29T00:00:00Z') })).toEqual({
      ok: true,
      frontmatter: { title: 'T', last_review: '2024-02-29' },
    });
  });

  it.each([
    ['no block at all', '# Just markdown\n', 'frontmatter is missing'],
    ['an empty block', '---\n---\nbody', 'frontmatter is empty'],
    ['broken YAML', page('title: [unclosed'), 'frontmatter is not valid YAML'],
    ['a list instead of fields', page('- a\n- b'), 'frontmatter must be a mapping'],
    ['no title', page('domain: ops'), 'title is required'],
    [
      'a wrong domain',
      page('title: T\ndomain: finance'),
      'domain must be one of frontend, backend, ops, shared',
    ],
    ['a wrong status', page('title: T\nstatus: done'), 'status must be one of draft, active, deprecated'],
    ['an impossible date', page('title: T\nlast_review: 2024-13-45'), 'last_review must match format "date"'],
    ['a date that is not a date', page('title: T\nlast_review: last week'), 'last_review'],
    ['tags as text', page('title: T\ntags: broker'), 'tags must be array'],
    ['a misspelt field', page('title: T\nsidebar_postion: 1'), 'sidebar_postion is not a known field'],
  ])('names the problem for %s', (_what, source, message) => {
    const parsed = parsePage(source);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.errors.join('; ')).toContain(message);
  });
});
