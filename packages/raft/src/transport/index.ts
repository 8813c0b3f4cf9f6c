export { decodeMessage, encodeMessage } from './codec.js';
export { TransportError, type TransportErrorKind } from './errors.js';
export { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, RAFT_PROTOCOL_BYTE } from './framing.js';
export { decodeHello, encodeHello, type Hello, MAX_HELLO_BYTES, verifyHello } from './hello.js';
export { InboundConnection, type InboundConnectionOptions } from './inbound-connection.js';
export { PeerConnection, type PeerConnectionOptions, parseAddress } from './peer-connection.js';
export {
  TcpTransport,
  type TransportEvents,
  type TransportOptions,
  type TransportStats,
} from './tcp-transport.js';
