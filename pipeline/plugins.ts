// Source kind -> plugin. The executor and CLI never import a source directly.
import type { LoadedConfig } from './config.ts';
import type { SourcePlugin } from './source-plugin.ts';
import { imageTextPlugin } from './kinds/image-text.ts';
import { rgbdPlugin } from './kinds/rgbd.ts';

export async function createSourcePlugin(loaded: LoadedConfig): Promise<SourcePlugin> {
  switch (loaded.config.source.kind) {
    case 'image_text':
      return imageTextPlugin(loaded);
    case 'rgbd':
      return rgbdPlugin(loaded);
  }
}
