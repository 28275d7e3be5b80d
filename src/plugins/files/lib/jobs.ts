/**
 * The plugin's background jobs. Each is started by the `files_file_status_changed` event of the status it
 * handles, with the event id as job id; each belongs to the feature that needs it (a feature that is off
 * never has its jobs registered, let alone run).
 */
import { z } from 'zod';
import { defineJob } from '../../jobs/index.js';
import type { FilesConfig } from '../config.js';
import { digestStep, mediaStepRun, scanStep } from './steps.js';
import type { MediaKind } from './mime.js';

const fileJob = z.object({ fileId: z.string().regex(/^[0-9a-f-]{36}$/) });

/** Streams through clamd: a busy or restarting clamd is retried with a growing delay. */
export const scanJob = defineJob<typeof fileJob, unknown, FilesConfig>({
  name: 'files.scan',
  queue: 'files.scan',
  data: fileJob,
  feature: 'virus-scan',
  concurrency: 4,
  attempts: 6,
  backoff: { type: 'exponential', delayMs: 5000 },
  timeout: 15 * 60_000,
  description: 'Scans an uploaded file with clamd and hashes it; infected files are quarantined.',
  handler: ({ fileId }, ctx) => scanStep(fileId, ctx),
});

export const digestJob = defineJob<typeof fileJob, unknown, FilesConfig>({
  name: 'files.digest',
  queue: 'files.scan',
  data: fileJob,
  concurrency: 4,
  attempts: 5,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeout: 15 * 60_000,
  description: 'Hashes an uploaded file (sha256) when no virus scan runs.',
  handler: ({ fileId }, ctx) => digestStep(fileId, ctx),
});

const media = (name: string, feature: string, description: string) =>
  defineJob<typeof fileJob, unknown, FilesConfig>({
    name,
    // CPU-bound: two at a time per worker process.
    queue: 'files.media',
    data: fileJob,
    feature,
    concurrency: 2,
    attempts: 3,
    backoff: { type: 'exponential', delayMs: 5000 },
    timeout: 20 * 60_000,
    description,
    handler: ({ fileId }, ctx) => mediaStepRun(fileId, ctx),
  });

export const imageJob = media('files.image', 'thumbnails', 'Makes the AVIF/WebP variants, blurhash and dimensions of an image.');
export const videoJob = media('files.video', 'video', 'Reads duration and dimensions of a video and makes poster variants.');
export const documentJob = media('files.document', 'documents', 'Counts the pages of a PDF and makes first-page preview variants.');

export const MEDIA_JOBS: Record<MediaKind, typeof imageJob> = { image: imageJob, video: videoJob, document: documentJob };

export const FILES_JOBS = [scanJob, digestJob, imageJob, videoJob, documentJob];
