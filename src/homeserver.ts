// Wires configuration, storage, services and HTTP listeners into one running homeserver.
import { mkdirSync, readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { openStorage, type Storage } from './storage/index.js';
import { SessionService } from './services/sessions.js';
import { AccountService } from './services/accounts.js';
import { UiaService } from './services/uia.js';
import { RateLimiter } from './services/ratelimit.js';
import { RegistrationTokenService } from './services/registration-tokens.js';
import { loadOrCreateSigningKey } from './services/signing-key.js';
import type { SigningKey } from './core/crypto.js';
import { buildApp } from './http/server.js';
import { RoomPipeline } from './services/rooms/pipeline.js';
import { RoomService } from './services/rooms/rooms.js';
import { EventFormatter } from './services/rooms/format.js';
import { Visibility } from './services/rooms/visibility.js';
import { Timeline } from './services/rooms/timeline.js';
import { Relations } from './services/rooms/relations.js';
import { RoomUpgrader } from './services/rooms/upgrade.js';
import { DirectoryService } from './services/directory.js';
import { RoomSummaries } from './services/rooms/summary.js';
import { PublicRoomList } from './services/public-rooms.js';
import { SpaceHierarchy } from './services/rooms/hierarchy.js';
import { Notifier } from './services/notifier.js';
import { TypingService } from './services/typing.js';
import { PresenceService } from './services/presence.js';
import { ReceiptService } from './services/receipts.js';
import { SyncService } from './services/sync/sync.js';
import { NotificationService } from './services/notifications.js';
import { domainOf } from './core/identifiers.js';
import { AccountDataService } from './services/account-data.js';
import { ProfileService } from './services/profile.js';
import { OpenIdService } from './services/openid.js';
import { UserDirectoryService } from './services/user-directory.js';
import { DeviceListService } from './services/e2ee/device-lists.js';
import { ToDeviceService } from './services/e2ee/to-device.js';
import { E2eKeyService } from './services/e2ee/keys.js';
import { KeyBackupService } from './services/e2ee/key-backup.js';
import { RoomPreviews } from './services/rooms/previews.js';
import { MediaService } from './services/media/media.js';
import { UrlPreviewService } from './services/media/url-preview.js';
import { FederatedMedia } from './services/media/remote.js';
import { PushRuleService } from './services/push/rules.js';
import { PusherService } from './services/push/pushers.js';
import { PushDelivery } from './services/push/delivery.js';
import { FederationClient } from './services/federation/client.js';
import { KeyRing } from './services/federation/keyring.js';
import { FederationSender } from './services/federation/sender.js';
import { ServerAcls } from './services/federation/acl.js';
import { OutboundEvents } from './services/federation/outbound.js';
import { JoinedServers } from './services/federation/joined-servers.js';
import { PolicyCheck } from './services/federation/policy-check.js';
import { PolicyServer } from './services/federation/policy-server.js';
import { POLICY_SERVER_KEY_VERSION } from './core/policy-server.js';
import { FederationEventHandler } from './services/federation/receive.js';
import { FederationEventServer } from './services/federation/serve.js';
import { FederationBackfill } from './services/federation/backfill.js';
import { FederationMembership } from './services/federation/membership.js';
import { IpPolicy } from './services/net/ip-policy.js';
import { FederationEdus } from './services/federation/edus.js';
import { FederationQueries } from './services/federation/queries.js';
import { RemoteKeyCache } from './services/federation/remote-keys.js';
import { SearchService } from './services/search.js';

export interface RateLimiters {
  client: RateLimiter;
  login: RateLimiter;
  registration: RateLimiter;
}

export class Homeserver {
  readonly sessions: SessionService;
  readonly accounts: AccountService;
  readonly uia: UiaService;
  readonly registrationTokens: RegistrationTokenService;
  readonly rateLimits: RateLimiters;
  readonly pipeline: RoomPipeline;
  readonly rooms: RoomService;
  readonly directory: DirectoryService;
  readonly summaries: RoomSummaries;
  readonly publicRooms: PublicRoomList;
  readonly hierarchy: SpaceHierarchy;
  readonly formatter: EventFormatter;
  readonly visibility: Visibility;
  readonly timeline: Timeline;
  readonly relations: Relations;
  readonly upgrader: RoomUpgrader;
  readonly notifier = new Notifier();
  readonly typing: TypingService;
  readonly presence: PresenceService;
  readonly receipts: ReceiptService;
  readonly sync: SyncService;
  readonly notifications: NotificationService;
  readonly accountData: AccountDataService;
  readonly profiles: ProfileService;
  readonly openId: OpenIdService;
  readonly userDirectory: UserDirectoryService;
  readonly deviceLists: DeviceListService;
  readonly toDevice: ToDeviceService;
  readonly e2eKeys: E2eKeyService;
  readonly keyBackup: KeyBackupService;
  readonly previews: RoomPreviews;
  readonly media: MediaService;
  readonly urlPreviews: UrlPreviewService;
  readonly pushRules: PushRuleService;
  readonly pushers: PusherService;
  readonly pushDelivery: PushDelivery;
  readonly federationClient: FederationClient;
  readonly keyRing: KeyRing;
  readonly federationSender: FederationSender;
  readonly federationEdus: FederationEdus;
  readonly federationQueries: FederationQueries;
  readonly serverAcls: ServerAcls;
  readonly federationOutbound: OutboundEvents;
  readonly joinedServers: JoinedServers;
  readonly policyCheck: PolicyCheck;
  /** This server's Policy Server role, when config policy_server.enabled. */
  readonly policyServer: PolicyServer | undefined;
  readonly federationEvents: FederationEventHandler;
  readonly federationEventServer: FederationEventServer;
  readonly federationMembership: FederationMembership;
  readonly search: SearchService;
  private apps: FastifyInstance[] = [];

  private constructor(
    readonly config: Config,
    readonly storage: Storage,
    readonly signingKey: SigningKey,
    readonly log: Logger,
  ) {
    this.sessions = new SessionService(storage.devices, config.session);
    this.uia = new UiaService(storage.uia, config.session.uia_session_lifetime_ms);
    this.registrationTokens = new RegistrationTokenService(storage.registration);
    this.pipeline = new RoomPipeline(storage.events, { serverName: config.server_name, key: signingKey });
    this.rooms = new RoomService(storage, this.pipeline, config.server_name);
    this.accounts = new AccountService(storage, this.sessions, config.server_name, this.rooms);
    this.directory = new DirectoryService(storage, config.server_name, this.pipeline);
    this.summaries = new RoomSummaries(storage, this.pipeline);
    this.publicRooms = new PublicRoomList(storage, this.summaries, config.server_name);
    this.hierarchy = new SpaceHierarchy(storage, this.summaries);
    this.formatter = new EventFormatter(storage);
    this.visibility = new Visibility(storage);
    this.timeline = new Timeline(storage, this.visibility, this.formatter);
    this.relations = new Relations(storage, this.visibility, this.formatter);
    this.upgrader = new RoomUpgrader(storage, this.pipeline);
    this.accountData = new AccountDataService(storage.accountData, this.notifier);
    this.profiles = new ProfileService(storage, this.pipeline, log);
    this.openId = new OpenIdService(storage.openId, config.server_name);
    this.userDirectory = new UserDirectoryService(storage);
    this.previews = new RoomPreviews(storage, this.visibility, this.formatter, this.timeline, this.notifier);
    this.media = new MediaService(storage.media, config, log);
    this.urlPreviews = new UrlPreviewService(storage.media, this.media, config.url_preview, log);
    this.search = new SearchService(storage, this.visibility, this.formatter, this.timeline, signingKey.seed);
    this.pipeline.onPersisted((s) => this.notifier.notify({ stream: 'events', position: s.nid, rooms: [s.event.room_id], ...(s.event.type === 'm.room.member' && s.event.state_key ? { users: [s.event.state_key] } : {}) }));
    this.typing = new TypingService(this.notifier);
    this.presence = new PresenceService(storage.presence, this.notifier, config.presence, (err) => log.error({ err }, 'presence idle check failed'));
    this.pipeline.onPersisted(({ event }) => {
      // A member who leaves stops typing; an event sent by a local user is activity (spec: presence "Last active ago").
      if (event.type === 'm.room.member' && event.state_key !== undefined && event.content.membership !== 'join') this.typing.setTyping(event.room_id, event.state_key, false);
      if (domainOf(event.sender) === config.server_name) this.presence.bumpActive(event.sender).catch((err: unknown) => log.error({ err }, 'presence update failed'));
    });
    this.receipts = new ReceiptService(storage, this.visibility, this.notifier, this.accountData);
    // Push actions are written in each event's transaction, so unread counts survive a restart.
    // Push rules live in the m.push_rules account data; a change of it (or of the ignore list)
    // reaches evaluation through the notifier. After an event commits, pushers get their pokes.
    this.pushRules = new PushRuleService(storage.accountData, this.notifier, { legacyMentionRules: config.push.legacy_mention_rules });
    this.accountData.provideDefault('m.push_rules', (userId) => this.pushRules.content(userId));
    this.notifications = new NotificationService(storage, config.server_name, this.pushRules);
    storage.events.onPersisting(this.notifications.recordPushActions);
    this.notifier.subscribe((c) => {
      if (c.stream === 'account_data') for (const userId of c.users ?? []) this.notifications.invalidateUser(userId);
    });
    this.pushers = new PusherService(storage.pushers, config.push.allow_http_gateways);
    this.pushDelivery = new PushDelivery(storage, this.pipeline, this.notifications, {
      includeContent: config.push.include_content, timeoutMs: config.push.timeout_ms, maxAttempts: config.push.max_attempts,
      retryInitialMs: config.push.retry_initial_ms, retryMaxMs: config.push.retry_max_ms,
      ipPolicy: new IpPolicy({ denylist: config.push.ip_range_denylist, allowlist: config.push.ip_range_allowlist }),
    }, log);
    this.notifications.onNotified(this.pushDelivery.notified);
    this.pipeline.onPersisted((s) => this.notifications.persisted(s));
    // End-to-end encryption. Joins and leaves change who must track whose devices; a deleted
    // device takes its keys and pending to-device messages with it.
    this.deviceLists = new DeviceListService(storage, this.notifier, (err) => log.error({ err }, 'device-list update failed'));
    this.pipeline.onPersisted((s) => this.deviceLists.onPersisted(s));
    this.toDevice = new ToDeviceService(storage, this.notifier, config.server_name);
    this.e2eKeys = new E2eKeyService(storage, this.deviceLists, config.server_name);
    this.keyBackup = new KeyBackupService(storage);
    this.accounts.onDevicesDeleted(async (userId, deviceIds) => {
      await this.e2eKeys.deleteDevices(userId, deviceIds);
      await this.toDevice.deleteDevices(userId, deviceIds);
    });
    // A pusher goes with the device that set it (logout, device deletion, password change).
    this.accounts.onDevicesDeleted((userId, deviceIds) => this.pushers.deleteForDevices(userId, deviceIds));
    this.sync = new SyncService({
      storage, notifier: this.notifier, formatter: this.formatter, visibility: this.visibility, typing: this.typing, receipts: this.receipts,
      presence: this.presence, toDevice: this.toDevice, deviceLists: this.deviceLists, notifications: this.notifications,
      accountDataDefaults: async (userId) => [{ type: 'm.push_rules', content: await this.pushRules.content(userId) }],
      offlineAfterSyncMs: config.presence.offline_after_sync_ms, onError: (err) => log.error({ err }, 'sync failed'),
    });
    // Federation transport: other servers' keys, signed requests to them, the outbound queue.
    const fed = config.federation;
    this.federationClient = new FederationClient({
      serverName: config.server_name, signingKey,
      ipPolicy: new IpPolicy({ denylist: fed.ip_range_denylist, allowlist: fed.ip_range_allowlist }),
      ...(fed.trusted_ca_path !== null ? { trustedCaPem: readFileSync(fed.trusted_ca_path, 'utf8') } : {}),
      timeoutMs: fed.request_timeout_ms,
    });
    // Media of other servers comes through the federation client.
    this.media.remote = new FederatedMedia(this.federationClient, this.media, log);
    this.keyRing = new KeyRing({
      serverName: config.server_name, signingKey, oldVerifyKeys: fed.old_verify_keys, trustedKeyServers: fed.trusted_key_servers,
      store: storage.federation, client: this.federationClient, log,
    });
    this.federationSender = new FederationSender({
      serverName: config.server_name, store: storage.federation, client: this.federationClient, log,
      backoffBaseMs: fed.backoff_base_ms, backoffMaxMs: fed.backoff_max_ms,
    });
    // Federation, event side: received PDUs checked and persisted, events and state served to
    // other servers, membership handshakes, and our events sent to the room's other servers.
    this.serverAcls = new ServerAcls(storage.events);
    this.joinedServers = new JoinedServers(storage.rooms);
    this.pipeline.onPersisted(this.joinedServers.onPersisted); // before the listeners that ask it
    this.federationOutbound = new OutboundEvents(storage, this.federationSender, config.server_name, this.joinedServers, (err) => log.error({ err }, 'queueing an event for federation failed'));
    this.pipeline.onPersisted(this.federationOutbound.onPersisted);
    // Policy Servers: ours (if configured) signs for rooms that name it; every room naming one
    // has its events signed by it, ours before they are persisted, received ones on receipt.
    const ps = config.policy_server;
    if (ps.enabled) {
      const { key: psKey, created: psCreated } = loadOrCreateSigningKey(ps.signing_key_path, POLICY_SERVER_KEY_VERSION);
      if (psCreated) log.info({ path: ps.signing_key_path }, 'generated a new policy server key');
      this.policyServer = new PolicyServer(storage.events, this.joinedServers, this.serverAcls, { serverName: config.server_name, key: psKey, banLists: ps.ban_lists });
      this.pipeline.onPersisted(this.policyServer.onPersisted);
    }
    this.policyCheck = new PolicyCheck({
      events: storage.events, joinedServers: this.joinedServers, client: this.federationClient, serverName: config.server_name, local: this.policyServer, log,
    });
    this.pipeline.onBuilt(this.policyCheck.builtHook); // before the invite hook: a refused invite never reaches the invitee
    this.federationEvents = new FederationEventHandler({
      storage, pipeline: this.pipeline, keys: this.keyRing, client: this.federationClient, acl: this.serverAcls, policy: this.policyCheck, serverName: config.server_name, log,
    });
    this.federationEventServer = new FederationEventServer(storage, this.serverAcls, config.server_name);
    // /messages pages back into history that only other servers hold.
    this.timeline.history = new FederationBackfill({ storage, keys: this.keyRing, client: this.federationClient, acl: this.serverAcls, events: this.federationEvents, serverName: config.server_name, log });
    this.federationMembership = new FederationMembership({
      storage, pipeline: this.pipeline, keys: this.keyRing, client: this.federationClient, acl: this.serverAcls,
      handler: this.federationEvents, server: this.federationEventServer, outbound: this.federationOutbound,
      signer: { serverName: config.server_name, key: signingKey }, log,
    });
    this.pipeline.onBuilt(this.federationMembership.inviteHook);
    this.directory.remoteLookup = this.federationMembership.lookupRemoteAlias;
    const remoteKeys = new RemoteKeyCache(storage, config.server_name, log);
    this.pipeline.onPersisted((s) => remoteKeys.onPersisted(s));
    this.federationEdus = new FederationEdus({
      serverName: config.server_name, storage, notifier: this.notifier, typing: this.typing, receipts: this.receipts, presence: this.presence,
      deviceLists: this.deviceLists, toDevice: this.toDevice, e2eKeys: this.e2eKeys, sender: this.federationSender, remoteKeys, log,
      acl: () => this.serverAcls,
    });
    this.receipts.receiptListeners.add(this.federationEdus.onReceipt);
    this.deviceLists.keyChangeListeners.add(this.federationEdus.onKeysChanged);
    this.toDevice.remoteDelivery = this.federationEdus.onRemoteToDevice;
    this.federationQueries = new FederationQueries({
      serverName: config.server_name, client: this.federationClient, profiles: this.profiles, e2eKeys: this.e2eKeys, publicRooms: this.publicRooms, remoteKeys,
    });
    this.hierarchy.remote = (roomId, via, suggestedOnly) => this.federationQueries.hierarchy(roomId, via, suggestedOnly);
    const rl = config.rate_limits;
    this.rateLimits = {
      client: new RateLimiter(rl.client, rl.enabled),
      login: new RateLimiter(rl.login, rl.enabled),
      registration: new RateLimiter(rl.registration, rl.enabled),
    };
  }

  /** Opens (and migrates) the database and loads or creates the signing key; does not listen yet. */
  static async open(config: Config, log: Logger = createLogger(config)): Promise<Homeserver> {
    const { key, created } = loadOrCreateSigningKey(config.signing_key_path);
    if (created) log.info({ path: config.signing_key_path, key_id: key.keyId }, 'generated a new signing key');
    mkdirSync(config.media_path, { recursive: true });
    const storage = await openStorage(config.database);
    return new Homeserver(config, storage, key, log);
  }

  /** Starts every configured listener; returns the addresses they listen on. */
  async listen(): Promise<string[]> {
    this.presence.start();
    this.sync.start();
    await this.federationSender.start();
    this.federationEdus.start();
    const addresses: string[] = [];
    for (const l of this.config.listeners) {
      const https = l.tls ? { cert: readFileSync(l.tls.certificate_path), key: readFileSync(l.tls.private_key_path) } : undefined;
      const app = buildApp(this, l.resources, this.log, https);
      this.apps.push(app);
      addresses.push(await app.listen({ port: l.port, host: l.bind_address }));
    }
    return addresses;
  }

  async close(): Promise<void> {
    this.previews.close();
    this.sync.close(); // waiting long-polls answer now, so the listeners can close
    await Promise.all(this.apps.map((a) => a.close()));
    this.apps = [];
    this.typing.close();
    await this.presence.close();
    await this.pushDelivery.close();
    this.federationEdus.close();
    await this.federationSender.close();
    await this.federationClient.close();
    await this.urlPreviews.close();
    await this.media.close(); // thumbnails of recent uploads still being written
    await this.storage.close();
  }
}

export function createLogger(config: Pick<Config, 'log_level'>): Logger {
  return pino({ level: config.log_level, base: { name: 'weft' } });
}
