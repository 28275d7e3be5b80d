/** PDFs through poppler: the page count (pdfinfo) and a preview of the first page (pdftoppm, PNG). */
import { run } from './exec.js';
import { ProcessingRefused } from './refused.js';

export interface PdfTools {
  pdfinfo: string;
  pdftoppm: string;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export async function pageCount(path: string, t: PdfTools): Promise<number> {
  const out = (await run(t.pdfinfo, ['--', path], { timeoutMs: t.timeoutMs, signal: t.signal, maxOutput: 1024 * 1024 })).toString('latin1');
  const m = /^Pages:\s+(\d+)\s*$/m.exec(out);
  if (!m) throw new ProcessingRefused('pdfinfo reported no page count');
  return Number(m[1]);
}

/** The first page as a PNG no larger than `size`×`size` pixels. */
export async function firstPage(path: string, size: number, t: PdfTools): Promise<Buffer> {
  const png = await run(
    t.pdftoppm,
    ['-f', '1', '-l', '1', '-singlefile', '-png', '-scale-to', String(size), '--', path],
    { timeoutMs: t.timeoutMs, signal: t.signal, maxOutput: 128 * 1024 * 1024 },
  );
  if (png.length === 0) throw new ProcessingRefused('pdftoppm rendered nothing');
  return png;
}
