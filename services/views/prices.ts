/** On-demand list prices: the ledger's (services/ledger/prices.ts), re-exported for the views. */
export { loadOnDemandPrices, type OnDemandPrices } from '../ledger/prices.js';
