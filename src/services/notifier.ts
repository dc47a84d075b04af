// The one notifier: every stream that clients sync (room events, typing, receipts, presence,
// account data, to-device messages, device-list changes) reports each new position here, with
// the rooms or users it concerns, and long-polling requests wait on it.
export type StreamName = 'events' | 'typing' | 'receipts' | 'presence' | 'account_data' | 'to_device' | 'device_lists';

export interface StreamChange {
  stream: StreamName;
  position: number;
  /** Rooms whose members this change concerns. */
  rooms?: readonly string[];
  /** Users this change concerns directly. */
  users?: readonly string[];
}

export type ChangeListener = (change: StreamChange) => void;

export class Notifier {
  private readonly listeners = new Set<ChangeListener>();

  notify(change: StreamChange): void {
    for (const l of this.listeners) l(change);
  }

  /** Returns the function that unsubscribes. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
