/**
 * Entry point of the page bundle (`dist/app.js`). A placeholder until the
 * page is written: it only pulls in the connection layer, so the build
 * proves that `src/conn` bundles for the browser.
 */
export * from './conn/index.js';
