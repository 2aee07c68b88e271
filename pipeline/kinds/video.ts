// Video with audio: probe -> clip windows -> frames + audio -> audio-visual sync -> sink.
import type { LoadedConfig } from '../config.ts';
import type { SourcePlugin } from '../source-plugin.ts';
import type { Traceable } from '../stage.ts';
import { approxVideoClipBytes, videoClipSchema, type VideoClipSample } from '../../schemas/video.ts';
import { listVideoUnits, processVideoUnit } from '../../stages/sources/video/video-units.ts';
import { resolveFfmpeg } from '../../stages/sources/video/ffmpeg-path.ts';
import { makeThumbnail } from '../../stages/report/thumbnails.ts';

export function videoPlugin({ config, baseDir }: LoadedConfig): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'video') throw new Error(`videoPlugin given source kind ${src.kind}`);
  resolveFfmpeg(src); // a missing ffmpeg is a setup error before any unit starts
  return {
    kinds: [videoClipSchema],
    listUnits: () => listVideoUnits(src, baseDir),
    processUnit: (unit, ctx) => processVideoUnit(unit, src, ctx),
    approxBytes: (s: Traceable) => approxVideoClipBytes(s as VideoClipSample),
    example: async (s: Traceable) => {
      const clip = s as VideoClipSample;
      const middle = clip.frames[Math.floor(clip.frames.length / 2)];
      return {
        id: clip.id,
        source: clip.source,
        caption: `${clip.start.toFixed(2)}-${clip.end.toFixed(2)} s, AV offset ${clip.avOffsetMs ?? 'n/a'} ms (confidence ${clip.avConfidence?.toFixed(2) ?? 'n/a'})`,
        ...(middle ? { thumb: await makeThumbnail(middle.image.bytes) } : {}),
      };
    },
  };
}
