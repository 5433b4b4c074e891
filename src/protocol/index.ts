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
  peekFetchNextOffset,
} from './messages/fetch.js';
export type {
  DecodeFetchResponseOptions,
  DecodedFetchResponse,
  FetchOwner,
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
export {
  decodeProduceBatchesRequest,
  decodeProduceBatchesResponse,
  encodeProduceBatchesRequest,
  encodeProduceBatchesResponse,
  produceBatchesLimits,
} from './messages/produce-batches.js';
export type {
  DecodedProduceBatchesRequest,
  ProduceBatchOutcome,
  ProduceBatchesRequest,
} from './messages/produce-batches.js';
export type {
  DecodedProduceRequest,
  ProduceAcks,
  ProduceMessage,
  ProduceRequest,
  ProduceResponse,
  ProducedMessage,
} from './messages/produce.js';
export { isKnownOpcode, opcodeLabel, opcodes } from './opcodes.js';
export { callJson, decodeJson, jsonMessage, jsonPush } from './messages/json-message.js';
export type { JsonMessage, JsonPush } from './messages/json-message.js';
export * from './messages/shapes.js';
export * from './messages/metadata.js';
export * from './messages/create-topic.js';
export * from './messages/list-topics.js';
export * from './messages/describe-topic.js';
export * from './messages/broker-assignment.js';
export * from './messages/register-broker.js';
export * from './messages/broker-heartbeat.js';
export * from './messages/list-brokers.js';
export * from './messages/cluster-status.js';
export * from './messages/commit-offsets.js';
export * from './messages/fetch-offsets.js';
export * from './messages/list-offsets.js';
export * from './messages/claim-partitions.js';
export * from './messages/release-partitions.js';
export * from './messages/list-group-offsets.js';
export * from './messages/delete-group-offsets.js';
export * from './messages/join-group.js';
export * from './messages/group-heartbeat.js';
export * from './messages/leave-group.js';
export * from './messages/group-assignment.js';
export * from './messages/list-groups.js';
export * from './messages/describe-group.js';
export * from './messages/reset-group-offsets.js';
export * from './messages/delete-group.js';
export type { Opcode, OpcodeName } from './opcodes.js';
export { socketTransport } from './transport.js';
export type { Transport } from './transport.js';
export { protocolVersion } from './version.js';
export { ProtocolServer } from './server.js';
export type { ProtocolServerOptions, RequestHandler, Session } from './server.js';
export { dial, formatAddress, parseAddress, parseAddressList } from './dial.js';
export type { Address, DialOptions, Dialed } from './dial.js';
