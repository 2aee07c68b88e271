// The video_fetch stage: a video named by URL -> the video as a local file. Downloads through
// the FileFetcher (the web fetcher's politeness, consent and safety rules, streamed to a file
// in the unit's scratch folder, which the kind removes when the unit ends, however it ends).
// Local videos pass untouched and uncounted. Drops, as the web fetcher: bad_row (the row has no
// URL), http_404, opt_out, blocked_address, too_large, timeout, ..., and not_video (the body
// does not start like a video container).
import path from 'node:path';
import { drop, mapStage, type Stage } from '../../core/stage.ts';
import type { FetchConfig } from '../../schemas/fetch-config.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import type { VideoFile, VideoRef } from '../../schemas/video-items.ts';
import { FileFetcher } from './fetch-to-file.ts';
import { describeHead, sniffVideoContainer, VIDEO_SNIFF_BYTES } from './video-sniff.ts';
import { lastSegment } from '../sources/url-segment.ts';

const VIDEO_FETCH_STAGE = 'video_fetch';

/** The fetcher for video downloads: the run's fetch settings with the video size cap and a container sniffer. */
export function videoFileFetcher(fetch: FetchConfig, cfg: VideoSourceConfig): FileFetcher {
  return new FileFetcher(fetch, {
    maxBytes: cfg.max_download_bytes,
    accept: 'video/*,application/octet-stream;q=0.8,*/*;q=0.5',
    sniffBytes: VIDEO_SNIFF_BYTES,
    sniff: (head) => (sniffVideoContainer(head) ? null : { reason: 'not_video', detail: describeHead(head) }),
  });
}

/** `scratchDir` gives the unit's scratch folder (made on first use). */
export function videoFetchStage(fetcher: FileFetcher, scratchDir: () => Promise<string>): Stage<VideoRef, VideoFile> {
  return mapStage<VideoRef, VideoFile>(VIDEO_FETCH_STAGE, async (video, ctx) => {
    if (video.error !== undefined) return drop('bad_row', video.error);
    if (video.url === null) return drop('bad_row', 'the row names no video');
    const ext = path.extname(lastSegment(video.url)).toLowerCase();
    const dest = path.join(await scratchDir(), `video${/^\.[a-z0-9]{1,5}$/.test(ext) ? ext : '.bin'}`);
    const fetched = await fetcher.fetchToFile(video.url, dest, ctx.signal);
    if (!fetched.ok) return drop(fetched.reason, fetched.detail);
    ctx.stats.count('video_fetch.bytes_by_host', fetched.host, fetched.bytes);
    return { ...video, file: fetched.file, consent: fetched.consent };
  });
}
