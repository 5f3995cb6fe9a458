// A small typed event bus with wildcard listeners and async dispatch.

export type Listener<T> = (payload: T) => void | Promise<void>;

export interface EventMap {
  [event: string]: unknown;
}

interface Registration<T> {
  listener: Listener<T>;
  once: boolean;
}

export class EventBus<Events extends EventMap> {
  private readonly listeners = new Map<keyof Events, Array<Registration<any>>>();
  private readonly wildcard: Array<Listener<{ event: keyof Events; payload: unknown }>> = [];

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    return this.add(event, listener, false);
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    return this.add(event, listener, true);
  }

  onAny(listener: Listener<{ event: keyof Events; payload: unknown }>): () => void {
    this.wildcard.push(listener);
    return () => {
      const i = this.wildcard.indexOf(listener);
      if (i >= 0) this.wildcard.splice(i, 1);
    };
  }

  async emit<K extends keyof Events>(event: K, payload: Events[K]): Promise<void> {
    const registered = this.listeners.get(event) ?? [];
    const current = [...registered];
    this.listeners.set(
      event,
      registered.filter((r) => !r.once),
    );
    const errors: unknown[] = [];
    for (const { listener } of current) {
      try {
        await listener(payload);
      } catch (err) {
        errors.push(err);
      }
    }
    for (const listener of [...this.wildcard]) {
      try {
        await listener({ event, payload });
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} listeners failed for ${String(event)}`);
  }

  listenerCount(event?: keyof Events): number {
    if (event === undefined) {
      let total = this.wildcard.length;
      for (const list of this.listeners.values()) total += list.length;
      return total;
    }
    return this.listeners.get(event)?.length ?? 0;
  }

  private add<K extends keyof Events>(event: K, listener: Listener<Events[K]>, once: boolean): () => void {
    const list = this.listeners.get(event) ?? [];
    const registration: Registration<Events[K]> = { listener, once };
    list.push(registration);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event);
      if (!current) return;
      const index = current.indexOf(registration);
      if (index >= 0) current.splice(index, 1);
    };
  }
}

// Example usage:
//
//   type AppEvents = { 'user:login': { id: string }; 'cart:update': { items: number } };
//   const bus = new EventBus<AppEvents>();
//   const off = bus.on('user:login', ({ id }) => console.log('welcome', id));
//   await bus.emit('user:login', { id: 'u_42' });
//   off();
