'use strict';

/**
 * A token-bucket rate limiter with an async `acquire()` that resolves when a
 * token is available. Tokens refill continuously at `ratePerSecond`, up to
 * `burst`. Waiters are served strictly in arrival order.
 */
class TokenBucket {
  constructor({ ratePerSecond, burst = ratePerSecond, now = () => performance.now() }) {
    if (!(ratePerSecond > 0)) {
      throw new RangeError(`ratePerSecond must be positive, got ${ratePerSecond}`);
    }
    this.rate = ratePerSecond / 1000; // tokens per millisecond
    this.capacity = burst;
    this.tokens = burst;
    this.now = now;
    this.updatedAt = now();
    this.queue = [];
    this.timer = null;
  }

  refill() {
    const t = this.now();
    const elapsed = Math.max(0, t - this.updatedAt);
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.rate);
    this.updatedAt = t;
  }

  tryAcquire(count = 1) {
    this.refill();
    if (this.queue.length === 0 && this.tokens >= count) {
      this.tokens -= count;
      return true;
    }
    return false;
  }

  acquire(count = 1, { signal } = {}) {
    if (count > this.capacity) {
      return Promise.reject(new RangeError('request exceeds bucket capacity'));
    }
    if (this.tryAcquire(count)) {
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { count, resolve, reject };
      this.queue.push(waiter);
      if (signal) {
        const onAbort = () => {
          const index = this.queue.indexOf(waiter);
          if (index !== -1) {
            this.queue.splice(index, 1);
            reject(signal.reason ?? new Error('aborted'));
          }
        };
        if (signal.aborted) {
          onAbort();
          return;
        }
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.schedule();
    });
  }

  schedule() {
    if (this.timer !== null || this.queue.length === 0) {
      return;
    }
    this.refill();
    const head = this.queue[0];
    const missing = Math.max(0, head.count - this.tokens);
    const delay = Math.ceil(missing / this.rate);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, delay);
  }

  drain() {
    this.refill();
    while (this.queue.length > 0 && this.tokens >= this.queue[0].count) {
      const waiter = this.queue.shift();
      this.tokens -= waiter.count;
      waiter.resolve();
    }
    this.schedule();
  }
}

module.exports = { TokenBucket };
