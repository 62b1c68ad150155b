-- The limiter's slots with the moment each request is known to have reached amoCRM (its answer
-- came back; NULL while unknown): a new slot must start a window after the arrival of the
-- request 7 back, and only an answer proves when that was (src/platform/amo/rate-limit.ts).
-- The slots already logged were granted by the old rule: taken as arrived a second after their slot.
ALTER TABLE "amo_rate_limit" ADD COLUMN "recent_arrivals" DOUBLE PRECISION[] NOT NULL DEFAULT ARRAY[]::DOUBLE PRECISION[];
UPDATE "amo_rate_limit" SET "recent_arrivals" = ARRAY(SELECT s + 1000 FROM unnest("recent_slots") AS s);

-- grantSlot (src/platform/amo/rate-limit-store.ts) under the account row's lock: the slot, or
-- NULL with retry_ms when rps requests are unanswered; `p_replaces` (an unused open slot) is dropped.
CREATE FUNCTION amo_rate_reserve(p_amo_id bigint, p_replaces double precision, p_rps int, p_window double precision, p_hold double precision,
  OUT slot_ms double precision, OUT now_ms double precision, OUT retry_ms double precision)
LANGUAGE plpgsql AS $$
DECLARE
  v_slots double precision[];
  v_arrivals double precision[];
  v_floor double precision;
  v_open int;
  v_answered double precision[];
  v_free int;
BEGIN
  INSERT INTO amo_rate_limit (amo_id) VALUES (p_amo_id) ON CONFLICT (amo_id) DO NOTHING;
  SELECT r.recent_slots, r.recent_arrivals, (EXTRACT(EPOCH FROM r.next_slot_at) * 1000)::double precision
    INTO v_slots, v_arrivals, v_floor
    FROM amo_rate_limit r WHERE r.amo_id = p_amo_id FOR UPDATE;
  now_ms := (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::double precision;
  -- liveEntries, without the unused slot given back
  SELECT coalesce(array_agg(e.s ORDER BY e.o), '{}'), coalesce(array_agg(e.a ORDER BY e.o), '{}')
    INTO v_slots, v_arrivals
    FROM unnest(v_slots, v_arrivals) WITH ORDINALITY AS e(s, a, o)
    WHERE e.s IS NOT NULL
      AND (p_replaces IS NULL OR e.s <> p_replaces OR e.a IS NOT NULL)
      AND CASE WHEN e.a IS NULL THEN e.s > now_ms - p_hold ELSE e.a + p_window > now_ms END;
  SELECT count(*) FILTER (WHERE e.a IS NULL), coalesce(array_agg(e.a ORDER BY e.a) FILTER (WHERE e.a IS NOT NULL), '{}'),
         min(e.s) FILTER (WHERE e.a IS NULL)
    INTO v_open, v_answered, retry_ms
    FROM unnest(v_slots, v_arrivals) AS e(s, a);
  v_free := p_rps - 1 - v_open;
  IF v_free < 0 THEN
    slot_ms := NULL;
    retry_ms := greatest(0, coalesce(retry_ms - now_ms, 0));
  ELSE
    retry_ms := NULL;
    slot_ms := greatest(now_ms, v_floor, CASE WHEN cardinality(v_answered) > v_free THEN v_answered[cardinality(v_answered) - v_free] + p_window END);
    WHILE slot_ms = ANY (v_slots) LOOP
      slot_ms := slot_ms + 0.001;
    END LOOP;
    v_slots := array_append(v_slots, slot_ms);
    v_arrivals := array_append(v_arrivals, NULL::double precision);
  END IF;
  UPDATE amo_rate_limit SET recent_slots = v_slots, recent_arrivals = v_arrivals WHERE amo_id = p_amo_id;
END $$;

-- The open slot `p_slot`'s request reached amoCRM by `p_arrived` (store clock); NULL: never sent, the slot is dropped.
CREATE FUNCTION amo_rate_release(p_amo_id bigint, p_slot double precision, p_arrived double precision) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_slots double precision[];
  v_arrivals double precision[];
  v_pos int;
BEGIN
  SELECT r.recent_slots, r.recent_arrivals INTO v_slots, v_arrivals FROM amo_rate_limit r WHERE r.amo_id = p_amo_id FOR UPDATE;
  v_pos := array_position(v_slots, p_slot);
  IF v_pos IS NULL OR v_arrivals[v_pos] IS NOT NULL THEN
    RETURN false;
  END IF;
  IF p_arrived IS NULL THEN
    v_slots := v_slots[:v_pos - 1] || v_slots[v_pos + 1:];
    v_arrivals := v_arrivals[:v_pos - 1] || v_arrivals[v_pos + 1:];
  ELSE
    v_arrivals[v_pos] := greatest(p_arrived, p_slot);
  END IF;
  UPDATE amo_rate_limit SET recent_slots = v_slots, recent_arrivals = v_arrivals WHERE amo_id = p_amo_id;
  RETURN true;
END $$;
