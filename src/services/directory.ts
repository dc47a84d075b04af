// Room aliases (spec: client-server-api "Room aliases").
import { isValidRoomAlias } from '../core/identifiers.js';
import { MatrixError, notFound } from '../errors.js';
import type { Storage } from '../storage/index.js';

export class DirectoryService {
  constructor(private readonly storage: Storage, private readonly serverName: string) {}

  checkAlias(alias: string): void {
    if (!isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', `Invalid room alias ${JSON.stringify(alias)}`, 400);
  }

  isLocal(alias: string): boolean {
    return alias.slice(alias.indexOf(':') + 1) === this.serverName;
  }

  async resolveAlias(alias: string): Promise<string> {
    this.checkAlias(alias);
    const found = this.isLocal(alias) ? await this.storage.aliases.get(alias) : undefined;
    if (!found) throw notFound(`Room alias ${alias} not found`);
    return found.roomId;
  }

  async createAlias(alias: string, roomId: string, creator: string): Promise<void> {
    this.checkAlias(alias);
    if (!this.isLocal(alias)) throw new MatrixError('M_INVALID_PARAM', 'Room aliases must be on this server', 400);
    if (!(await this.storage.events.getRoom(roomId))) throw notFound(`Unknown room ${roomId}`);
    if (!(await this.storage.aliases.create(alias, roomId, creator))) throw new MatrixError('M_ROOM_IN_USE', `Room alias ${alias} already exists`, 409);
  }
}
