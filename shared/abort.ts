/**
 * The drain's AbortSignal (services/dispatcher: HandlerContext.signal) in the
 * places a handler waits: AWS calls, SSH, sleeps.
 */

import { SpotbatchError } from './errors.js';

/**
 * What a handler sees when the drain stopped it: retryable (its message is
 * left for redelivery), and no TransientError, so no handler takes it for a
 * blip to work around (another connection, a message sent again later).
 */
export class DrainAbortError extends SpotbatchError {
  constructor(message = "stopped by the dispatcher's drain: the message will be redelivered") {
    super(message, true);
    this.name = 'DrainAbortError';
  }
}

/** The reason the signal was aborted with, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DrainAbortError();
}

/** `p`, or a rejection as soon as `signal` aborts (what `p` was doing goes on; its result is ignored). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) {
    p.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Wait `ms`, or reject as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface Sends {
  send(...args: never[]): unknown;
}

/**
 * The same AWS SDK client, whose every `send` (and so every paginator, waiter
 * and lib-storage upload made over it) passes `abortSignal: signal` unless the
 * call names one itself. The client, its config and its sockets are shared
 * with the original.
 */
export function withAbortSignal<C extends Sends>(client: C, signal: AbortSignal): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver) as unknown;
      return (command: unknown, options?: unknown, cb?: unknown) => {
        // The SDK's overloads: send(command, callback) and send(command, options[, callback]).
        if (typeof options === 'function') return Reflect.apply(target.send, target, [command, { abortSignal: signal }, options]);
        const opts = options && typeof options === 'object' ? options : {};
        return Reflect.apply(target.send, target, [command, { abortSignal: signal, ...opts }, ...(cb === undefined ? [] : [cb])]);
      };
    },
  });
}
