/** Tap-as-a-Service under `/v2.0/taas`: `tap_services` and `tap_flows`, collections like any other (no tags). */
import {
  TapFlow,
  TapFlowCreate,
  TapFlowUpdate,
  TapService,
  TapServiceCreate,
  TapServiceUpdate,
} from '../model/taas.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const tapServices = (s: Services): CollectionSpec => ({
  path: 'taas/tap_services',
  collection: 'tap_services',
  member: 'tap_service',
  resource: TapService,
  create: TapServiceCreate,
  update: TapServiceUpdate,
  service: s.tapServices,
  taggable: false,
});

export const tapFlows = (s: Services): CollectionSpec => ({
  path: 'taas/tap_flows',
  collection: 'tap_flows',
  member: 'tap_flow',
  resource: TapFlow,
  create: TapFlowCreate,
  update: TapFlowUpdate,
  service: s.tapFlows,
  taggable: false,
});
