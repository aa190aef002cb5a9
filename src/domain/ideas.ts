/** The idea bank's vocabulary and its Kanban workflow. Pure: no I/O. */

export const IDEA_CATEGORIES = [
  'documentacao',
  'coleta-dados',
  'banco-dados',
  'analise-dados',
  'gestao-riscos',
  'dashboard',
] as const;
export const IDEA_PRIORITIES = ['low', 'medium', 'high', 'critical'] as const;
export const IDEA_STATUSES = ['new', 'review', 'in-progress', 'completed', 'rejected'] as const;

export type IdeaCategory = (typeof IDEA_CATEGORIES)[number];
export type IdeaPriority = (typeof IDEA_PRIORITIES)[number];
export type IdeaStatus = (typeof IDEA_STATUSES)[number];

export interface Idea {
  id: string;
  title: string;
  description: string;
  category: IdeaCategory;
  priority: IdeaPriority;
  status: IdeaStatus;
  tags: string[];
  createdAt: string;
  updatedAt: string;
}

/** Where an idea may go from each column; `completed` and `rejected` are final. */
export const KANBAN_MOVES: Record<IdeaStatus, readonly IdeaStatus[]> = {
  new: ['review', 'in-progress'],
  review: ['in-progress', 'rejected'],
  'in-progress': ['completed', 'new'],
  completed: [],
  rejected: [],
};

export function canMove(from: IdeaStatus, to: IdeaStatus): boolean {
  return from === to || KANBAN_MOVES[from].includes(to);
}

export const PRIORITY_RANK: Record<IdeaPriority, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Trimmed tags, empty ones dropped, duplicates (ignoring case) removed, first spelling kept. */
export function normalizeTags(tags: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of tags) {
    const tag = raw.trim();
    const key = tag.toLowerCase();
    if (!tag || seen.has(key)) continue;
    seen.add(key);
    out.push(tag);
  }
  return out;
}

/** Lower case without accents, so "análise" matches "analise". */
export function foldText(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{Diacritic}/gu, '')
    .toLowerCase();
}
