/**
 * The protocol version this code speaks, exchanged in HELLO. Raised only when a frame or message
 * changes incompatibly; new opcodes alone do not raise it.
 * @default 1
 */
export const protocolVersion = 1;
