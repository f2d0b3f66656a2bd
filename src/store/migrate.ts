/** Runs the schema migrations at start (in order, each once, recorded by Kysely). */
import { type Kysely, type Migration, Migrator } from 'kysely';
import type { DialectName } from './dialect.js';
import * as m001 from './migrations/001-initial.js';
import * as m002 from './migrations/002-dataplane.js';
import * as m003 from './migrations/003-l3.js';
import * as m004 from './migrations/004-port-drops.js';
import * as m005 from './migrations/005-status-changes.js';
import * as m006 from './migrations/006-identity-security.js';
import * as m007 from './migrations/007-dhcp-agents-per-network.js';
import * as m008 from './migrations/008-address-groups.js';
import * as m009 from './migrations/009-trunks.js';
import * as m010 from './migrations/010-subnet-pools.js';
import * as m011 from './migrations/011-l3-ha.js';
import * as m012 from './migrations/012-host-diagnostics.js';
import * as m013 from './migrations/013-port-forwardings.js';
import * as m014 from './migrations/014-load-balancers.js';
import * as m016 from './migrations/016-qos.js';
import * as m017 from './migrations/017-port-counters.js';
import * as m018 from './migrations/018-taas-metering.js';
import * as m019 from './migrations/019-vpnaas.js';
import * as m020 from './migrations/020-fwaas.js';
import * as m021 from './migrations/021-lb-quotas.js';
import * as m022 from './migrations/022-network-logs.js';
import type { Database } from './schema.js';

const steps: Record<string, (db: Kysely<unknown>, dialect: DialectName) => Promise<void>> = {
  '001-initial': m001.up,
  '002-dataplane': m002.up,
  '003-l3': m003.up,
  '004-port-drops': m004.up,
  '005-status-changes': m005.up,
  '006-identity-security': m006.up,
  '007-dhcp-agents-per-network': m007.up,
  '008-address-groups': m008.up,
  '009-trunks': m009.up,
  '010-subnet-pools': m010.up,
  '011-l3-ha': m011.up,
  '012-host-diagnostics': m012.up,
  '013-port-forwardings': m013.up,
  '014-load-balancers': m014.up,
  '016-qos': m016.up,
  '017-port-counters': m017.up,
  '018-taas-metering': m018.up,
  '019-vpnaas': m019.up,
  '020-fwaas': m020.up,
  '021-lb-quotas': m021.up,
  '022-network-logs': m022.up,
};

export async function migrate(db: Kysely<Database>, dialect: DialectName): Promise<void> {
  const migrations: Record<string, Migration> = {};
  for (const [name, up] of Object.entries(steps)) {
    migrations[name] = { up: (k) => up(k, dialect) };
  }
  // Numbers are handed out to features built side by side, so one may land after a higher
  // number has run on an existing database: run it anyway rather than refuse to start.
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    allowUnorderedMigrations: true,
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
