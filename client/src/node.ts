// The Node build: everything of the browser build plus FileStorage.
export * from './index.ts';
export { FileStorage } from './file-storage.ts';
