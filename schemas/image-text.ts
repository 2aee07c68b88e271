// Sample types for web-crawled / local image-caption pairs.
import type { Traceable } from '../pipeline/stage.ts';
import type { Media } from './media.ts';

export const IMAGE_TEXT = 'image_text' as const;

/** What a source emits before decode: a caption and where its image is. */
export interface ImageTextRaw extends Traceable {
  kind: typeof IMAGE_TEXT;
  caption: string;
  /** Local file path of the image (folder and list sources). */
  imagePath?: string;
  /** Image bytes already in memory (tar sources, fetched URLs). */
  imageBytes?: Uint8Array;
  /** URL the image was (or will be) fetched from. */
  url?: string;
  /** Extra columns from the input list, carried into the output as strings. */
  extra?: Record<string, string>;
}

/** A decoded, resized, re-encoded sample ready for pairing checks, scoring and the sink. */
export interface ImageTextSample extends Traceable {
  kind: typeof IMAGE_TEXT;
  caption: string;
  image: Media;
  /** Stored image size (after resize). */
  width: number;
  height: number;
  /** Size of the decoded source image. */
  originalWidth: number;
  originalHeight: number;
  /** sha256 hex of image.bytes (the stored, re-encoded bytes). */
  sha256: string;
  url?: string;
  extra?: Record<string, string>;
}
