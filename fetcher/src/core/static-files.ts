// Static files served from a folder (the registry by `bootos serve`, the kiosk by the agent): which URL paths map
// to a file inside the folder.

/** Maps a URL path to a file inside root, or null when the path is refused (traversal, hidden files, NUL). */
export function safeRelative(urlPath: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const parts = decoded.split('/').filter((p) => p !== '');
  if (parts.length === 0) return null;
  if (parts.some((p) => p === '..' || p === '.' || p.startsWith('.'))) return null;
  return parts.join('/');
}
