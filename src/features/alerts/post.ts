// The alert POST: the platform's guarded outgoing POST (src/platform/http/outbound.ts).
import { createGuardedPost } from '../../platform/http/outbound.ts';
import type { PostAlert } from './sender.ts';

export const createAlertPost = (production: boolean): PostAlert => createGuardedPost(production);
