export { FeedClient, type FeedClientOptions, type FeedClientState, type FeedClientStats } from './client.js';
export { MemoryFeedHistory } from './memory-history.js';
export {
  type BatchMessage,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL_ERROR,
  type FeedHistory,
  type FeedRecord,
  type HelloMessage,
  type ServerMessage,
} from './protocol.js';
export {
  type ConnectionMode,
  type FeedConnectionStats,
  FeedServer,
  type FeedServerOptions,
  type FeedServerStats,
} from './server.js';
