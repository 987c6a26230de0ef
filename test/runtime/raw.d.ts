/** Vite's `?raw` import: a file's text (the tests read documentation this way). */
declare module "*?raw" {
  const text: string;
  export default text;
}
