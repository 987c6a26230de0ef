/** The console's browser module as text, imported through wrangler's `[[rules]]` Text rule and served as `/console/app.js`. */
declare const source: string;
export default source;
