// Source kind -> plugin. The executor and CLI never import a source directly.
import type { LoadedConfig } from './config.ts';
import type { SourcePlugin } from './source-plugin.ts';
import { imageTextPlugin } from './kinds/image-text.ts';
import { rgbdPlugin } from './kinds/rgbd.ts';
import { webPlugin } from './kinds/web.ts';
import { videoPlugin } from './kinds/video.ts';

export async function createSourcePlugin(loaded: LoadedConfig): Promise<SourcePlugin> {
  switch (loaded.config.source.kind) {
    case 'image_text':
      return imageTextPlugin(loaded);
    case 'web':
      return webPlugin(loaded);
    case 'rgbd':
      return rgbdPlugin(loaded);
    case 'video':
      return videoPlugin(loaded);
  }
}
