// Media columns follow the Hugging Face convention: struct{bytes: binary, path: string}.
export interface Media {
  bytes: Uint8Array;
  /** Original file name or URL the bytes came from (informational; readers use bytes). */
  path: string;
}
