// The rgbd_registration stage: RgbdDecoded -> RgbdMeasured, the measured depth-to-colour shift
// of every pair (rgbd-registration.ts), on this thread or in worker threads (registration-handover.ts).
import { mapStage, type Stage } from '../../core/stage.ts';
import type { RgbdDecoded } from '../decode/rgbd-decode.ts';
import type { Registrar } from './registration-handover.ts';
import { registerDepthToRgb, type Registration, type RegistrationOptions } from './rgbd-registration.ts';

const RGBD_REGISTRATION_STAGE = 'rgbd_registration';

export interface RgbdMeasured extends RgbdDecoded {
  registration: Registration;
}

/**
 * Measures registration on every decoded pair; drops nothing (the quality stage decides). With a
 * registrar the pairs go to it, `registrar.concurrency` at once; without one the search runs
 * here, one pair at a time.
 */
export function rgbdRegistrationStage(options: RegistrationOptions = {}, registrar: Registrar | null = null): Stage<RgbdDecoded, RgbdMeasured> {
  if (!registrar) return mapStage(RGBD_REGISTRATION_STAGE, (item) => ({ ...item, registration: registerDepthToRgb(item.rgbImage, item.depthMap, options) }));
  return mapStage(
    RGBD_REGISTRATION_STAGE,
    async (item) => ({ ...item, registration: await registrar.register(item.rgbImage, item.depthMap, options) }),
    { concurrency: registrar.concurrency },
  );
}
