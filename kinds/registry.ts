// Source kind -> its definition (kinds/<kind>.ts, `image_text` in image-text.ts). The executor,
// finalise and the CLI never import a kind directly. Kinds are imported when a run needs them:
// each pulls in its own native libraries (sharp, onnxruntime, ffmpeg helpers), and a CLI call
// should load only its own.
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { KindDefinition } from './definition.ts';
import type { SourcePlugin } from './plugin.ts';

async function kindDefinition(sourceKind: string): Promise<KindDefinition> {
  if (!/^[a-z][a-z0-9_]*$/.test(sourceKind)) throw new Error(`unknown source kind ${JSON.stringify(sourceKind)}`);
  const module: { definition?: KindDefinition } = await import(`./${sourceKind.replace(/_/g, '-')}.ts`);
  if (!module.definition || module.definition.source !== sourceKind) throw new Error(`kinds/${sourceKind.replace(/_/g, '-')}.ts does not define source kind ${sourceKind}`);
  return module.definition;
}

export async function createSourcePlugin(loaded: LoadedConfig): Promise<SourcePlugin> {
  return (await kindDefinition(loaded.config.source.kind)).createPlugin(loaded);
}

/** The kind definition of a finished run, from the config its run.json records. */
export function kindOfRunConfig(config: unknown): Promise<KindDefinition> {
  const kind = (config as { source?: { kind?: unknown } } | null)?.source?.kind;
  if (typeof kind !== 'string') throw new Error('run.json records no source kind');
  return kindDefinition(kind);
}
