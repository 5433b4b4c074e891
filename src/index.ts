// The public library: what `import … from 'tubemq-ts'` sees.
export * from './common/index.js';
export * from './storage/index.js';
export * from './client/index.js';
