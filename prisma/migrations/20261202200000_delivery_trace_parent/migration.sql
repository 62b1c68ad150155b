-- The trace (W3C traceparent) a result came in with, continued by the delivery worker when tracing is on.
ALTER TABLE "delivery" ADD COLUMN "trace_parent" TEXT;
