// Source kind -> plugin. The executor and CLI never import a source directly.
// Kinds are imported when a run needs them: each pulls in its own native libraries (sharp,
// onnxruntime, ffmpeg helpers), and a CLI call should load only its own.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { SourcePlugin } from './plugin.ts';
import { openRunScorer } from './run-scorer.ts';

export async function createSourcePlugin(loaded: LoadedConfig): Promise<SourcePlugin> {
  switch (loaded.config.source.kind) {
    case 'image_text':
      return (await import('./image-text.ts')).imageTextPlugin(loaded, await openRunScorer(loaded));
    case 'web':
      return (await import('./web.ts')).webPlugin(loaded, await openRunScorer(loaded));
    case 'rgbd':
      return (await import('./rgbd.ts')).rgbdPlugin(loaded);
    case 'video':
      return (await import('./video.ts')).videoPlugin(loaded);
  }
}
