import { z } from 'zod';

/** A quiz id as the quiz platform sends it. */
export const quizIdSchema = z.string().trim().min(1, 'quizId must not be empty').max(200, 'quizId is longer than 200 characters');
