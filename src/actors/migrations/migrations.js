import journal from './meta/_journal.json';
import m0000 from './0000_init.sql';
import m0001 from './0001_outbox.sql';
import m0002 from './0002_directory.sql';
import m0003 from './0003_identity.sql';
import m0004 from './0004_suppression.sql';
import m0005 from './0005_consent.sql';
import m0006 from './0006_suppression_links.sql';
import m0007 from './0007_directory_claims.sql';
import m0008 from './0008_experiment_memberships.sql';
import m0009 from './0009_segments.sql';

  export default {
    journal,
    migrations: {
      m0000,
m0001,
m0002,
m0003,
m0004,
m0005,
m0006,
m0007,
m0008,
m0009
    }
  }
  