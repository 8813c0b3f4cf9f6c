export { isDigits, strEqLower } from './chars.js';
export { ChunkedDecoder, type ChunkedLimits, DEFAULT_CHUNKED_LIMITS } from './chunked.js';
export {
  BodyFraming,
  backendReusable,
  type FramingKind,
  requestFraming,
  responseFraming,
} from './framing.js';
export {
  createScanState,
  DEFAULT_LIMITS,
  type Header,
  type HeadLimits,
  type HeadScanState,
  parseRequestHead,
  parseResponseHead,
  type RequestErrorStatus,
  type RequestHead,
  type RequestParseResult,
  type ResponseHead,
  type ResponseParseResult,
} from './head.js';
export {
  type HeadEdits,
  isValidRequestId,
  rewriteRequestHead,
  rewriteResponseHead,
  serializeHead,
} from './serialize.js';
