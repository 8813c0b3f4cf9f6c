export { advertised, DEFAULT_PORT, flagSpec, list, parseListenAddr } from './flags.js';
export { answerHeaders, upstreamHeaders } from './forward.js';
export { ControllerGateway, type GatewayOptions, SERVICE_NAME } from './gateway.js';
export { type Destination, parseDestination } from './paths.js';
