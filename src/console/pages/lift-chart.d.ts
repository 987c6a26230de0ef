/** The console module pages/lift-chart.js as text (wrangler Text rule), served to the browser by src/routes/console.ts. */
declare const source: string;
export default source;
