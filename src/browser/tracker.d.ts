/** The tracker's source text, imported through wrangler's `[[rules]]` Text rule and served as `GET /t.js`. */
declare const source: string;
export default source;
