// The console's page and stylesheet are imported as text (wrangler [[rules]] type = "Text").
declare module "*.html" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
// uPlot's browser build, served to the console as a classic script (wrangler Text rule).
declare module "uplot/dist/uPlot.iife.min.js" {
  const text: string;
  export default text;
}
