// Request schemas shared by several Client-Server routes (JSON Schema via TypeBox).
import { Type } from '@sinclair/typebox';

export const AuthDict = Type.Optional(Type.Object({
  type: Type.Optional(Type.String()),
  session: Type.Optional(Type.String()),
}, { additionalProperties: true }));

export const UserIdentifier = Type.Object({ type: Type.String() }, { additionalProperties: true });

export const DeviceIdParams = Type.Object({ deviceId: Type.String({ minLength: 1 }) });
