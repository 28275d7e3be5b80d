/** Child process for the lock tests: takes the lock at argv[2], then exits without releasing it. */
import { lockSync } from '../../../src/core/lock-file.js';

lockSync(process.argv[2]!, { what: 'exit while holding' });
process.stdout.write('held\n');
process.exit(0);
