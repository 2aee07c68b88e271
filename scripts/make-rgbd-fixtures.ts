// Write the synthetic RGB-D fixtures (TUM, NYU raw, SUN RGB-D and generic layouts) with truth.json.
import { main } from '../run/fixtures/rgbd-fixtures.ts';

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
