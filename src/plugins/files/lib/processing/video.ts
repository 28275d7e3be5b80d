/**
 * Videos through ffprobe (duration, dimensions as displayed) and ffmpeg (a poster frame). ffmpeg reads the
 * file from a local path: seeking a poster frame needs random access.
 */
import { run } from './exec.js';
import { ProcessingRefused } from './refused.js';

export interface Probe {
  durationSeconds: number | null;
  width: number | null;
  height: number | null;
  hasVideo: boolean;
}

interface FfprobeStream {
  codec_type?: string;
  width?: number;
  height?: number;
  tags?: { rotate?: string };
  side_data_list?: { rotation?: number }[];
  disposition?: { attached_pic?: number };
}

export interface VideoTools {
  ffprobe: string;
  ffmpeg: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export async function probe(path: string, t: VideoTools): Promise<Probe> {
  const out = await run(t.ffprobe, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '--', path], { timeoutMs: t.timeoutMs, signal: t.signal, maxOutput: 4 * 1024 * 1024 });
  let json: { streams?: FfprobeStream[]; format?: { duration?: string } };
  try {
    json = JSON.parse(out.toString('utf8'));
  } catch {
    throw new ProcessingRefused('ffprobe gave no readable description of the file');
  }
  const video = (json.streams ?? []).find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  const duration = Number(json.format?.duration);
  let width = video?.width ?? null;
  let height = video?.height ?? null;
  const rotation = Math.abs(Number(video?.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? video?.tags?.rotate ?? 0)) % 180;
  if (rotation === 90) [width, height] = [height, width];
  return { durationSeconds: Number.isFinite(duration) ? duration : null, width, height, hasVideo: !!video };
}

/** A PNG of the frame at `atSeconds` (ffmpeg applies the rotation itself). */
export async function posterFrame(path: string, atSeconds: number, t: VideoTools): Promise<Buffer> {
  const png = await run(
    t.ffmpeg,
    ['-v', 'error', '-nostdin', '-ss', atSeconds.toFixed(3), '-i', path, '-frames:v', '1', '-an', '-f', 'image2pipe', '-vcodec', 'png', '-'],
    { timeoutMs: t.timeoutMs, signal: t.signal, maxOutput: 128 * 1024 * 1024 },
  );
  if (png.length === 0) throw new ProcessingRefused('ffmpeg found no frame to use as a poster');
  return png;
}

/** Where the poster is taken: one second in, or the middle of a shorter clip. */
export function posterTime(duration: number | null): number {
  if (!duration || duration <= 0) return 0;
  return duration > 2 ? 1 : duration / 2;
}
