// The public face of the protocol layer (DESIGN.md §3).
export { Connection, inflightRequestsMaxDefault, requestTimeoutMsDefault } from './connection.js';
export type { ConnectionOptions, RequestOptions } from './connection.js';
export { encodeFrame, frameFlags, frameHeaderBytes, frameLengthMin } from './frame.js';
export type { Frame, FrameHeader } from './frame.js';
export { FrameDecoder } from './frame-decoder.js';
export type { FrameDecoderOptions } from './frame-decoder.js';
export { decodeError, encodeError } from './messages/error.js';
export {
  decodeHelloRequest,
  decodeHelloResponse,
  encodeHelloRequest,
  encodeHelloResponse,
} from './messages/hello.js';
export type { HelloRequest, HelloResponse } from './messages/hello.js';
export {
  decodeFetchRequest,
  decodeFetchResponse,
  encodeFetchRequest,
  encodeFetchResponse,
  fetchLimits,
} from './messages/fetch.js';
export type {
  DecodeFetchResponseOptions,
  DecodedFetchResponse,
  FetchRequest,
  FetchResponse,
  FetchedMessage,
} from './messages/fetch.js';
export {
  decodeProduceRequest,
  decodeProduceResponse,
  encodeProduceRequest,
  encodeProduceResponse,
  produceAcks,
  produceLimits,
} from './messages/produce.js';
export type {
  DecodedProduceRequest,
  ProduceAcks,
  ProduceMessage,
  ProduceRequest,
  ProduceResponse,
  ProducedMessage,
} from './messages/produce.js';
export { isKnownOpcode, opcodeLabel, opcodes, reservedOpcodes } from './opcodes.js';
export type { Opcode, OpcodeName } from './opcodes.js';
export { socketTransport } from './transport.js';
export type { Transport } from './transport.js';
export { protocolVersion } from './version.js';
