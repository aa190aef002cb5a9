const MAX_REMEMBERED_TOKENS = 100_000;

/**
 * The nonces of tokens already used up (a stream token's one connection, a session signed out),
 * each kept until its token expires (after that the signature check refuses the token anyway).
 * Bounded: when full of unexpired nonces, nothing more is claimed rather than a used one forgotten.
 */
export class UsedTokens {
  /** nonce → exp; insertion order is close to expiry order, so pruning stops at the first live one. */
  private readonly byNonce = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly max = MAX_REMEMBERED_TOKENS,
  ) {}

  get size(): number {
    return this.byNonce.size;
  }

  has(nonce: string): boolean {
    return this.byNonce.has(nonce);
  }

  /** Marks a token used; false when it was used before (or nothing more can be remembered). */
  claim(nonce: string, exp: number): boolean {
    this.prune(false);
    if (this.byNonce.has(nonce)) return false;
    if (this.byNonce.size >= this.max) {
      this.prune(true);
      if (this.byNonce.size >= this.max) return false;
    }
    this.byNonce.set(nonce, exp);
    return true;
  }

  private prune(all: boolean): void {
    const now = this.now();
    for (const [nonce, exp] of this.byNonce) {
      if (exp <= now) this.byNonce.delete(nonce);
      else if (!all) break;
    }
  }
}
