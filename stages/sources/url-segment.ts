// The last path segment of a URL, for ids and file names.

/** The URL's last path segment, without query or fragment ('' when it has none or is not a URL). */
export function lastSegment(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
  } catch {
    return '';
  }
}
