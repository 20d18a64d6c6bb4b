/** The escaping `html` template, shared with the cost report's renderers (services/ledger): see shared/html.ts. */
export { Html, html, trusted } from '../../shared/html.js';
