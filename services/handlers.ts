/** The production registry: service name -> handler, for `spotbatch dispatcher`. */
import { catalog } from './catalog.js';
import { Registry } from './dispatcher/registry.js';

export function fleetRegistry(): Registry {
  return Registry.of(catalog, {});
}
