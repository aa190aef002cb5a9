/** A topic's handler. */
export type Handler<T> = (payload: T) => void;

/**
 * A small typed in-process message bus: components publish what happened by topic and others
 * subscribe, instead of owners setting each other's callback slots. Delivery is synchronous, in
 * subscription order, at the publisher's call: the order manager relies on that (a fill's risk
 * state is journaled in the same batch as the fill). A handler that throws is reported through
 * `onError` and the others still get the message. Publishing allocates nothing.
 */
export class Bus<Topics extends object> {
  private readonly handlers = new Map<keyof Topics, Handler<never>[]>();

  constructor(private readonly onError: (topic: string, err: unknown) => void) {}

  /** Subscribes; returns the unsubscribe. */
  on<K extends keyof Topics>(topic: K, handler: Handler<Topics[K]>): () => void {
    // Copied on change, so a publish in progress keeps the list it started with.
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler as Handler<never>]);
    return () => {
      const list = this.handlers.get(topic) ?? [];
      this.handlers.set(
        topic,
        list.filter((h) => h !== handler),
      );
    };
  }

  publish<K extends keyof Topics>(topic: K, payload: Topics[K]): void {
    const list = this.handlers.get(topic) as Handler<Topics[K]>[] | undefined;
    if (!list) return;
    for (const handler of list) {
      try {
        handler(payload);
      } catch (err) {
        this.onError(String(topic), err);
      }
    }
  }

  /** Whether anyone listens: a publisher can skip building a message nobody reads. */
  has(topic: keyof Topics): boolean {
    return (this.handlers.get(topic)?.length ?? 0) > 0;
  }
}
