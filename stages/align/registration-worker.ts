// Worker thread body for the RGB-D registration check: edge detection and the chamfer search are
// pure JS and cost about as much CPU per 640x480 pair as decoding the pair (docs/rgbd.md), so
// they run off the main event loop.
// Message in:  { id, width, height, rgb: Uint8Array, depth: Uint16Array, options }
// Message out: { id, registration, rgb, depth } | { id, error, rgb, depth }; the pixels go back to
// the pool, transferred, so that a frame moved here (not copied) returns to its owner.
import { parentPort } from 'node:worker_threads';
import { registerDepthToRgb, type Registration, type RegistrationOptions } from './rgbd-registration.ts';

export interface RegistrationRequest {
  id: number;
  width: number;
  height: number;
  rgb: Uint8Array;
  depth: Uint16Array;
  options: RegistrationOptions;
}

export type RegistrationReply = ({ id: number; registration: Registration } | { id: number; error: string }) & { rgb: Uint8Array; depth: Uint16Array };

parentPort!.on('message', (req: RegistrationRequest) => {
  let reply: RegistrationReply;
  const transfer: ArrayBuffer[] = [req.rgb.buffer as ArrayBuffer, req.depth.buffer as ArrayBuffer];
  try {
    const { width, height } = req;
    const registration = registerDepthToRgb({ width, height, data: req.rgb }, { width, height, data: req.depth }, req.options);
    // Edge pixel lists are fresh arrays made here: hand their memory over instead of copying it.
    if (registration.edges) transfer.push(registration.edges.colour.buffer as ArrayBuffer, registration.edges.depth.buffer as ArrayBuffer);
    reply = { id: req.id, registration, rgb: req.rgb, depth: req.depth };
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? `${err.name}: ${err.message}` : String(err), rgb: req.rgb, depth: req.depth };
  }
  parentPort!.postMessage(reply, transfer);
});
