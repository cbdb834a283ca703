/** @esh3ar/runtime — placeholder until the runtime-configuration watcher lands. */
export {};
