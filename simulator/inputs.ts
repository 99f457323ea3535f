import sharp from 'sharp';

const FETCH_TIMEOUT_MS = 15_000;
const DATA_URI = /^data:[^;,]+;base64,(.*)$/s;

/**
 * What the real service does with `image_urls` before a run (only with `fetch_inputs`): an
 * unauthenticated GET of each URL, which must answer 2xx with a decodable image. Returns the
 * reason the run must fail, or undefined when every input is usable.
 */
export async function checkInputImages(urls: readonly string[]): Promise<string | undefined> {
  for (const [index, url] of urls.entries()) {
    const problem = await checkInputImage(url);
    if (problem) return `image_urls[${index}]: ${problem}`;
  }
  return undefined;
}

async function checkInputImage(url: string): Promise<string | undefined> {
  let bytes: Buffer;
  const data = DATA_URI.exec(url);
  if (data) {
    bytes = Buffer.from(data[1] ?? '', 'base64');
  } else {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      if (!response.ok) return `input not reachable (HTTP ${response.status})`;
      bytes = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      return `input not reachable (${(error as Error).message})`;
    }
  }
  try {
    await sharp(bytes).metadata();
    return undefined;
  } catch {
    return 'input is not a decodable image';
  }
}
