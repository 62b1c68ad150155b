// Recovering sync jobs left waiting: a lost task published again, a dead run retried or given up.
import type { Services } from '../../platform/services.ts';
import { DEFAULT_SYNC_MAX_ATTEMPTS, NO_COUNTS, SYNC_ERRORS, finishJob, publishSyncTask } from './jobs.ts';

export interface RecoverOptions {
  /** RUNNING jobs are stuck after this long (default: `olderThanMs`) */
  runningOlderThanMs?: number;
  /** a stuck RUNNING job tried this many times is FAILED instead of re-published (default 5) */
  maxAttempts?: number;
}

export interface RecoverReport {
  /** QUEUED and RUNNING jobs whose task was published again */
  republished: string[];
  /** RUNNING jobs given up (FAILED) */
  failed: string[];
}

/**
 * Never leaves a job waiting forever:
 * - a QUEUED job older than `olderThanMs` (its task was lost: the publish failed after the commit,
 *   or the message was dead-lettered) gets its task published again;
 * - a RUNNING job started more than `runningOlderThanMs` ago (its process died, or its message was
 *   dead-lettered between retries) gets its task published again, or is FAILED when it has been
 *   tried `maxAttempts` times already. Its started_at is bumped first, in one guarded update, so
 *   replicas recovering at the same moment publish it once.
 * A duplicate task is harmless: a finished job is skipped by runSyncJob.
 */
export async function recoverStuckJobs(services: Services, olderThanMs: number, options: RecoverOptions = {}): Promise<RecoverReport> {
  const { db, logger } = services;
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_SYNC_MAX_ATTEMPTS);
  const queuedBefore = new Date(Date.now() - olderThanMs);
  const runningBefore = new Date(Date.now() - (options.runningOlderThanMs ?? olderThanMs));
  const report: RecoverReport = { republished: [], failed: [] };

  const stuck = await db.syncJob.findMany({
    where: {
      OR: [
        { status: 'QUEUED', queuedAt: { lt: queuedBefore } },
        { status: 'RUNNING', OR: [{ startedAt: { lt: runningBefore } }, { startedAt: null }] },
      ],
    },
    include: { account: { select: { quizAccountId: true } } },
    orderBy: { queuedAt: 'asc' },
    take: 500,
  });

  for (const job of stuck) {
    try {
      if (job.status === 'RUNNING') {
        if (job.attempts >= maxAttempts) {
          if (await finishJob(services, job, 'FAILED', NO_COUNTS, SYNC_ERRORS.died)) report.failed.push(job.id);
          continue;
        }
        const n = await db.syncJob.updateMany({
          where: { id: job.id, status: 'RUNNING', startedAt: job.startedAt },
          data: { startedAt: new Date() },
        });
        if (n.count === 0) continue; // another replica recovered it, or it moved on
      }
      await publishSyncTask(services, job, job.account.quizAccountId);
      report.republished.push(job.id);
    } catch (err) {
      logger.error({ jobId: job.id, err: (err as Error)?.message }, 'could not recover a stuck sync job');
    }
  }
  if (report.republished.length || report.failed.length) logger.warn(report, 'recovered stuck sync jobs');
  return report;
}
