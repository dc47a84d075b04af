// Two matrix-js-sdk clients (what Element uses) sync against the server and chat: invite and
// join, messages, typing, read receipts, an edit, a reaction, a thread reply and a redaction,
// each seen by the other client through /sync. Every wait is for the SDK's own sync event, so
// nothing depends on timing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch as undiciFetch } from 'undici';
import { ClientEvent, createClient, SyncState, type MatrixClient, type MatrixEvent, type Room } from 'matrix-js-sdk';
import { logger as sdkGlobalLogger } from 'matrix-js-sdk/lib/logger.js';
import type { Logger as SdkLogger } from 'matrix-js-sdk/lib/logger.js';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

const noop = () => undefined;
const quietLogger: SdkLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, getChild: () => quietLogger };
(sdkGlobalLogger as unknown as { setLevel?: (level: string) => void }).setLevel?.('silent');

/** Resolves when `check` holds, looking again after every sync the client processes. */
function until<T>(client: MatrixClient, check: () => T | undefined | false | null, what: string, timeoutMs = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const look = () => {
      let value: T | undefined | false | null;
      try { value = check(); } catch (err) { finish(); reject(err); return; }
      if (value) { finish(); resolve(value); }
    };
    const timer = setTimeout(() => { finish(); reject(new Error(`timed out waiting for ${what}`)); }, timeoutMs);
    const finish = () => { clearTimeout(timer); client.off(ClientEvent.Sync, look); };
    client.on(ClientEvent.Sync, look);
    look();
  });
}

async function started(baseUrl: string, name: string, fetchFn: typeof fetch): Promise<MatrixClient> {
  const reg = await new Client(baseUrl).register(name);
  const client = createClient({ baseUrl, accessToken: reg.access_token, userId: reg.user_id, deviceId: reg.device_id, logger: quietLogger, fetchFn });
  const prepared = new Promise<void>((resolve) => {
    const onSync = (state: SyncState) => { if (state === SyncState.Prepared) { client.off(ClientEvent.Sync, onSync); resolve(); } };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 20, threadSupport: true, lazyLoadMembers: true });
  await prepared;
  return client;
}

const liveEvents = (room: Room | null | undefined): MatrixEvent[] => room?.getLiveTimeline().getEvents() ?? [];

describe.each(ENGINES)('matrix-js-sdk chat over /sync (%s)', (engine) => {
  let server: TestServer;
  let alice: MatrixClient;
  let bob: MatrixClient;
  // The clients' own connection pool, destroyed at the end: stopClient() aborts a long-poll, and
  // its half-open connection must not keep the server from closing.
  const agent = new Agent();
  // Requests the clients make in the background (thread lists, read markers) finish before the
  // pool goes: one cut short rejects inside the SDK, where nothing catches it.
  const inFlight = new Set<Promise<unknown>>();
  const fetchFn = ((url: string, init?: object) => {
    const request = undiciFetch(url, { ...init, dispatcher: agent });
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request)).catch(() => undefined);
    return request;
  }) as unknown as typeof fetch;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = await started(server.baseUrl, 'alice', fetchFn);
    bob = await started(server.baseUrl, 'bob', fetchFn);
  });
  afterAll(async () => {
    alice?.stopClient();
    bob?.stopClient();
    for (let i = 0; i < 20 && inFlight.size > 0; i++) await Promise.allSettled([...inFlight, new Promise((r) => setTimeout(r, 50))]);
    await agent.destroy();
    await server?.close();
  });

  it('chats: invite, join, messages, typing, receipts, an edit, a reaction, a thread reply and a redaction', async () => {
    const aliceId = alice.getSafeUserId();
    const bobId = bob.getSafeUserId();
    const { room_id: roomId } = await alice.createRoom({ preset: 'private_chat' as never, name: 'SDK room', invite: [bobId] });

    // Bob's client sees the invite, with the inviter and the room's name from the stripped state.
    const invited = await until(bob, () => bob.getRoom(roomId)?.getMyMembership() === 'invite' && bob.getRoom(roomId), 'the invite');
    expect(invited.name).toBe('SDK room');
    expect(invited.getMember(bobId)?.events.member?.getSender()).toBe(aliceId);
    await bob.joinRoom(roomId);
    await until(alice, () => alice.getRoom(roomId)?.getMember(bobId)?.membership === 'join', 'bob joined, seen by alice');
    await until(bob, () => bob.getRoom(roomId)?.getMyMembership() === 'join', 'bob joined, seen by bob');

    // A message each way.
    const { event_id: helloId } = await alice.sendTextMessage(roomId, 'hello bob');
    const hello = await until(bob, () => liveEvents(bob.getRoom(roomId)).find((e) => e.getId() === helloId), 'alice\'s message');
    expect(hello.getContent().body).toBe('hello bob');
    expect(hello.getSender()).toBe(aliceId);
    const { event_id: replyId } = await bob.sendTextMessage(roomId, 'hello alice');
    await until(alice, () => liveEvents(alice.getRoom(roomId)).find((e) => e.getId() === replyId), 'bob\'s message');

    // Typing, and its end.
    await bob.sendTyping(roomId, true, 30_000);
    await until(alice, () => alice.getRoom(roomId)?.getMember(bobId)?.typing === true, 'bob typing');
    await bob.sendTyping(roomId, false, 0);
    await until(alice, () => alice.getRoom(roomId)?.getMember(bobId)?.typing === false, 'bob stopped typing');

    // A read receipt, for a message newer than bob's own (which his client counts as read).
    const { event_id: readMeId } = await alice.sendTextMessage(roomId, 'please read');
    const readMe = await until(bob, () => bob.getRoom(roomId)?.findEventById(readMeId), 'the message to read');
    await bob.sendReadReceipt(readMe);
    await until(alice, () => {
      const room = alice.getRoom(roomId);
      const event = room?.findEventById(readMeId);
      return event && room?.getReceiptsForEvent(event).some((r) => r.userId === bobId && r.type === 'm.read');
    }, 'bob\'s receipt');
    expect(alice.getRoom(roomId)?.getEventReadUpTo(bobId)).toBe(readMeId);

    // An edit: bob's client shows the new content.
    await alice.sendEvent(roomId, 'm.room.message' as never, {
      msgtype: 'm.text', body: '* hello bob, edited',
      'm.new_content': { msgtype: 'm.text', body: 'hello bob, edited' },
      'm.relates_to': { rel_type: 'm.replace', event_id: helloId },
    } as never);
    await until(bob, () => bob.getRoom(roomId)?.findEventById(helloId)?.getContent().body === 'hello bob, edited', 'the edit');

    // A reaction: alice's client aggregates it on her message.
    await bob.sendEvent(roomId, 'm.reaction' as never, { 'm.relates_to': { rel_type: 'm.annotation', event_id: helloId, key: '👍' } } as never);
    await until(alice, () => {
      const annotations = alice.getRoom(roomId)?.relations.getChildEventsForEvent(helloId, 'm.annotation', 'm.reaction');
      return annotations?.getSortedAnnotationsByKey()?.some(([key, events]) => key === '👍' && [...events].some((e) => e.getSender() === bobId));
    }, 'the reaction');

    // A thread reply reaches alice's client with its m.thread relation to her message. (The SDK
    // files it under a Thread object only when /versions advertises v1.4+; the server's
    // /versions does not yet, so the SDK falls back to the unstable relation name.)
    const { event_id: threadReplyId } = await bob.sendMessage(roomId, helloId, {
      msgtype: 'm.text', body: 'in the thread', 'm.relates_to': { rel_type: 'm.thread', event_id: helloId },
    } as never);
    const threadReply = await until(alice, () => alice.getRoom(roomId)?.findEventById(threadReplyId), 'the thread reply');
    expect(threadReply.getWireContent()['m.relates_to']).toEqual({ rel_type: 'm.thread', event_id: helloId });
    expect(threadReply.getContent().body).toBe('in the thread');

    // A redaction: bob redacts his message; alice's client shows it redacted.
    await bob.redactEvent(roomId, replyId);
    await until(alice, () => alice.getRoom(roomId)?.findEventById(replyId)?.isRedacted(), 'the redaction');
    expect(alice.getRoom(roomId)?.findEventById(replyId)?.getContent()).toEqual({});
  });
});
