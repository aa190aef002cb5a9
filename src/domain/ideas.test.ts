import { describe, expect, it } from 'vitest';
import { canMove, foldText, IDEA_STATUSES, KANBAN_MOVES, normalizeTags } from './ideas.js';

describe('idea Kanban', () => {
  const allowed = new Set([
    'new>review',
    'new>in-progress',
    'review>in-progress',
    'review>rejected',
    'in-progress>completed',
    'in-progress>new',
  ]);

  it('allows exactly the six moves of the workflow, and staying put', () => {
    for (const from of IDEA_STATUSES) {
      for (const to of IDEA_STATUSES) {
        const expected = from === to || allowed.has(`${from}>${to}`);
        expect(canMove(from, to), `${from} -> ${to}`).toBe(expected);
      }
    }
  });

  it('keeps completed and rejected final', () => {
    expect(KANBAN_MOVES.completed).toEqual([]);
    expect(KANBAN_MOVES.rejected).toEqual([]);
  });

  it('normalizes tags: trimmed, deduplicated ignoring case, empties dropped', () => {
    expect(normalizeTags([' risco ', 'Risco', 'b3', '', '  ', 'B3', 'win'])).toEqual(['risco', 'b3', 'win']);
  });

  it('folds accents and case for search', () => {
    expect(foldText('Análise de LIQUIDEZ ç')).toBe('analise de liquidez c');
  });
});
