/** The quiz result as it arrives (GraphQL `QuizResultInput`, or a `quiz.results` message), validated. */
import { z } from 'zod';

const id = z
  .union([z.string(), z.number().int()])
  .transform((v) => String(v).trim())
  .pipe(z.string().min(1, 'must not be empty').max(255));
const optText = (max: number) =>
  z
    .string()
    .max(max)
    .nullish()
    .transform((v) => (v === null || v === undefined || v.trim() === '' ? undefined : v));

const keyValue = z.object({ key: z.string().trim().min(1, 'must not be empty').max(255), value: z.string().max(10_000) });

export const quizResultSchema = z.object({
  resultId: id,
  quizId: id,
  leadName: optText(255),
  /** the quiz's name (a lead-name template's {quizName}) */
  quizName: optText(255),
  price: z
    .number()
    .int('must be a whole number')
    .min(0)
    .max(2_147_483_647)
    .nullish()
    .transform((v) => v ?? undefined),
  contact: z
    .object({
      name: optText(255),
      phone: optText(100),
      email: optText(255),
      extra: z
        .array(keyValue)
        .max(100)
        .nullish()
        .transform((v) => v ?? undefined),
    })
    .nullish()
    .transform((v) => v ?? undefined),
  answers: z
    .array(
      z.object({
        questionId: id,
        title: optText(1000),
        values: z.array(z.string().max(10_000)).max(200),
        /** files uploaded as the answer (additive: a file question) */
        files: z
          .array(
            z.object({
              url: z
                .string()
                .trim()
                .max(2000)
                .refine((u) => /^https?:\/\/[^\s/]+/i.test(u), 'must be an absolute http(s) URL'),
              name: optText(255),
            }),
          )
          .max(50)
          .nullish()
          .transform((v) => (v?.length ? v : undefined)),
      }),
    )
    .max(500),
  utm: z
    .array(keyValue)
    .max(100)
    .nullish()
    .transform((v) => v ?? undefined),
  submittedAt: z
    .union([z.string(), z.date()])
    .nullish()
    .transform((v, ctx) => {
      if (v === null || v === undefined || v === '') return undefined;
      const d = v instanceof Date ? v : new Date(v);
      if (Number.isNaN(d.getTime())) {
        ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date-time' });
        return z.NEVER;
      }
      return d.toISOString();
    }),
  // ---- additions (optional; for amoCRM's Unsorted metadata)
  /** the form's name in Unsorted (default: "Quiz <quizId>") */
  formName: optText(255),
  /** the page the quiz was filled on */
  formPage: optText(2000),
  /** the respondent's IP */
  ip: optText(100),
  /** the page the respondent came from */
  referer: optText(2000),
});

/** A validated, normalised result: this is what `Delivery.payload` holds. */
export type QuizResult = z.output<typeof quizResultSchema>;
export type QuizResultInput = z.input<typeof quizResultSchema>;

/** JSON without undefined keys (for `Delivery.payload`). */
export function toPayloadJson(result: QuizResult): QuizResult {
  return JSON.parse(JSON.stringify(result)) as QuizResult;
}
