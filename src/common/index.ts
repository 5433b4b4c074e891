export * from './errors.js';
export * from './limits.js';
export * from './logger.js';
export * from './units.js';
export * from './durable-state.js';
export * from './topic-name.js';
export * from './data-dir-lock.js';
export * from './backoff.js';
