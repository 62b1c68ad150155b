/**
 * A task's deadline: `minutes` after `from`, counted in working time when the rule has working
 * hours (days + [from, to) in a time zone). Outside them the clock waits: a task created at night
 * is due `minutes` after the next working period starts; one that would run past the end of a day
 * carries the rest into the next working day. Pure (luxon does the time-zone arithmetic, DST too).
 */
import { DateTime, IANAZone } from 'luxon';

export interface WorkingHours {
  /** ISO weekdays, 1 Monday … 7 Sunday; empty: no working hours (plain offset) */
  days: number[];
  /** minutes after local midnight: [from, to) */
  from: number;
  to: number;
  /** IANA zone the hours are in */
  timezone: string;
}

export const DEFAULT_TIMEZONE = 'Europe/Moscow';

/** A valid IANA zone name (Intl knows it). */
export const isTimezone = (name: string): boolean => IANAZone.isValidZone(name);

/** The deadline of a task created at `from`, `minutes` of (working) time later. */
export function taskDeadline(from: Date, minutes: number, hours: WorkingHours | null): Date {
  const ms = Math.max(0, Math.round(minutes)) * 60_000;
  if (!hours || hours.days.length === 0 || hours.to <= hours.from) return new Date(from.getTime() + ms);
  const zone = isTimezone(hours.timezone) ? hours.timezone : DEFAULT_TIMEZONE;
  let left = ms;
  let t = DateTime.fromJSDate(from, { zone });
  // a long offset spans many working days; the bound only stops a malformed set of days
  for (let guard = 0; guard < 366 * 2; guard++) {
    const day = t.startOf('day');
    // wall-clock times of that day (a DST change moves them in absolute time, not on the clock)
    const at = (m: number) => (m >= 1440 ? day.plus({ days: 1 }) : day.set({ hour: Math.floor(m / 60), minute: m % 60 }));
    const start = at(hours.from);
    const end = at(hours.to);
    if (hours.days.includes(t.weekday) && t < end) {
      const begin = t < start ? start : t;
      const room = end.toMillis() - begin.toMillis();
      if (left <= room) return begin.plus({ milliseconds: left }).toJSDate();
      left -= room;
    }
    t = day.plus({ days: 1 });
  }
  return new Date(from.getTime() + ms);
}
