/**
 * Page cache of each SQLite connection, as `PRAGMA cache_size` (negative: KiB), set on every
 * connection we open. better-sqlite3 is built with SQLITE_DEFAULT_CACHE_SIZE=-16000: 16 MB per
 * connection, which a connection fills with the pages it writes and reads as its file grows. The
 * order manager has three (journal reader, journal writer thread, venue), so its resident memory
 * grew with its files, 1.5-2 KB per order, for as long as it took to cache 3 × 16 MB. SQLite's own
 * default, 2 MB, is plenty for append-mostly journals read near their end.
 */
export const SQLITE_CACHE_SIZE = -2_000;
