// The storage layer: one store per concern over one database.
import { openDatabase, type Database, type Engine } from './database.js';
import { migrateToLatest } from './migrate.js';
import { AccountStore } from './accounts.js';
import { DeviceStore } from './devices.js';
import { UiaStore } from './uia.js';
import { RegistrationStore } from './registration.js';
import { StateStore } from './state.js';
import { EventStore } from './events.js';
import { RoomStore } from './rooms.js';
import { AliasStore } from './aliases.js';
import { ReceiptStore } from './receipts.js';
import { PresenceStore } from './presence.js';
import { AccountDataStore } from './account-data.js';
import { ProfileFieldStore } from './profiles.js';
import { OpenIdStore } from './openid.js';
import { UserDirectoryStore } from './user-directory.js';
import { RoomDirectoryStore } from './room-directory.js';
import { RelationStore } from './relations.js';
import { PushActionStore } from './push-actions.js';
import { PusherStore } from './push-pushers.js';
import { PushRuleStore } from './push-rules.js';
import { FilterStore } from './filters.js';
import { SyncStore } from './sync.js';
import { E2eKeyStore } from './e2e-keys.js';
import { DeviceListStore } from './device-lists.js';
import { ToDeviceStore } from './to-device.js';
import { KeyBackupStore } from './key-backup.js';
import { MediaStore } from './media.js';
import { FederationStore } from './federation.js';
import { SearchStore } from './search.js';
import { RemoteKeyStore } from './remote-keys.js';

export class Storage {
  readonly accounts: AccountStore;
  readonly devices: DeviceStore;
  readonly uia: UiaStore;
  readonly registration: RegistrationStore;
  readonly state: StateStore;
  readonly events: EventStore;
  readonly rooms: RoomStore;
  readonly aliases: AliasStore;
  readonly receipts: ReceiptStore;
  readonly presence: PresenceStore;
  readonly accountData: AccountDataStore;
  readonly profileFields: ProfileFieldStore;
  readonly openId: OpenIdStore;
  readonly userDirectory: UserDirectoryStore;
  readonly roomDirectory: RoomDirectoryStore;
  readonly relations: RelationStore;
  readonly pushActions: PushActionStore;
  readonly pushers: PusherStore;
  readonly pushRules: PushRuleStore;
  readonly filters: FilterStore;
  readonly sync: SyncStore;
  readonly e2eKeys: E2eKeyStore;
  readonly deviceLists: DeviceListStore;
  readonly toDevice: ToDeviceStore;
  readonly keyBackup: KeyBackupStore;
  readonly media: MediaStore;
  readonly federation: FederationStore;
  readonly search: SearchStore;
  readonly remoteKeys: RemoteKeyStore;

  constructor(readonly database: Database) {
    const db = database.db;
    this.accounts = new AccountStore(db);
    this.devices = new DeviceStore(db);
    this.uia = new UiaStore(db);
    this.registration = new RegistrationStore(db);
    this.state = new StateStore(db);
    this.events = new EventStore(db, this.state, database.engine === 'sqlite');
    this.rooms = new RoomStore(db);
    this.aliases = new AliasStore(db);
    this.receipts = new ReceiptStore(db);
    this.presence = new PresenceStore(db);
    this.accountData = new AccountDataStore(db);
    this.profileFields = new ProfileFieldStore(db);
    this.openId = new OpenIdStore(db);
    this.userDirectory = new UserDirectoryStore(db);
    this.roomDirectory = new RoomDirectoryStore(db);
    this.relations = new RelationStore(db);
    this.pushActions = new PushActionStore(db);
    this.pushers = new PusherStore(db);
    this.pushRules = new PushRuleStore();
    this.filters = new FilterStore(db);
    this.sync = new SyncStore(db);
    this.e2eKeys = new E2eKeyStore(db);
    this.deviceLists = new DeviceListStore(db);
    this.toDevice = new ToDeviceStore(db);
    this.keyBackup = new KeyBackupStore(db);
    this.media = new MediaStore(db);
    this.federation = new FederationStore(db);
    this.remoteKeys = new RemoteKeyStore(db);
    // The search index is written in each event's transaction (storage/search.ts).
    this.search = new SearchStore(db, database.engine);
    this.events.onPersisting(this.search.index);
  }

  get engine(): Engine { return this.database.engine; }

  close(): Promise<void> { return this.database.close(); }
}

/** Opens the database and brings its schema up to date. */
export async function openStorage(cfg: Parameters<typeof openDatabase>[0]): Promise<Storage> {
  const database = openDatabase(cfg);
  try {
    await migrateToLatest(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  return new Storage(database);
}
