// The rgbd_registration stage: RgbdDecoded -> RgbdMeasured, the measured depth-to-colour shift
// of every pair (rgbd-registration.ts), in worker threads when a pool is given.
import { mapStage, type Stage } from '../../core/stage.ts';
import type { RgbdDecoded } from '../decode/rgbd-decode.ts';
import type { RegistrationPool } from './registration-pool.ts';
import { registerDepthToRgb, type Registration, type RegistrationOptions } from './rgbd-registration.ts';

const RGBD_REGISTRATION_STAGE = 'rgbd_registration';

export interface RgbdMeasured extends RgbdDecoded {
  registration: Registration;
}

/**
 * Measures registration on every decoded pair; drops nothing (the quality stage decides). With a
 * pool the chamfer search runs in worker threads, `pool.size` pairs at once; without one it runs
 * here, one pair at a time.
 */
export function rgbdRegistrationStage(options: RegistrationOptions = {}, pool: RegistrationPool | null = null): Stage<RgbdDecoded, RgbdMeasured> {
  if (!pool) return mapStage(RGBD_REGISTRATION_STAGE, (item) => ({ ...item, registration: registerDepthToRgb(item.rgbImage, item.depthMap, options) }));
  return mapStage(
    RGBD_REGISTRATION_STAGE,
    async (item) => ({ ...item, registration: await pool.register(item.rgbImage, item.depthMap, options) }),
    { concurrency: pool.size },
  );
}
